//! The database: the server's keys, the audit log, accounts with their sessions, and the
//! organisation's persistent rooms; SQLite in the data directory, or PostgreSQL
//! (`database::Database`). Migrations run at start.

mod admin;
mod database;
mod invites;
mod mfa;
mod org_settings;

use std::path::Path;

use sealroom_e2ee::{DeviceIdentity, GroupError, OrgSigner};

pub use admin::{ApiTokenGrant, ApiTokenInfo, NewApiToken};
pub use invites::{Invite, NewInvite};
pub use mfa::{MfaStanding, PasskeyInfo, SessionRow, StoredPasskey};

use crate::{
    config::PostgresUrl,
    org_roles::OrgRole,
    password::StoredPassword,
    room::KeptSettings,
    secret_box::{SecretBox, SecretError},
};
use database::{Database, Transaction, on_backend};

/// Credential name of the server's MLS external-sender identity.
const EXTERNAL_SENDER_NAME: &str = "sealroom-delivery-service";
/// What the external-sender key is sealed for.
const EXTERNAL_SENDER_PURPOSE: &str = "sealroom server key external_sender";
/// The organisation signing key's row in `server_keys`, its credential and what it is sealed
/// for.
const ORG_KEY_NAME: &str = "org_identity";
const ORG_KEY_CREDENTIAL: &str = "sealroom-organisation";
const ORG_KEY_PURPOSE: &str = "sealroom server key org_identity";

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored key could not be loaded.
    #[error("stored key: {0}")]
    Key(#[from] GroupError),
    /// The data directory could not be created.
    #[error("data directory: {0}")]
    DataDir(#[from] std::io::Error),
    /// A persistent room's stored settings do not parse.
    #[error("stored room settings: {0}")]
    RoomSettings(#[from] serde_json::Error),
    /// A stored value the schema should have kept out.
    #[error("stored {0} does not parse")]
    Corrupt(String),
    /// The key that seals stored secrets is missing or wrong.
    #[error("secrets: {0}")]
    Secrets(#[from] SecretError),
}

/// The database.
#[derive(Clone)]
pub struct Storage {
    database: Database,
    /// Seals the secrets the database keeps (the external-sender key, TOTP seeds).
    secrets: std::sync::Arc<SecretBox>,
    /// Held while the audit chain grows or shrinks, so that its writers in this process
    /// (the audit writer, account and room commands, retention) take turns instead of
    /// failing on SQLite's lock; another process's writes wait on the database's lock
    /// (`Database::begin_audit_chain`).
    audit_chain: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A security-relevant event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// A room came into existence (its first participant).
    RoomCreated,
    /// The last participant left.
    RoomEnded,
    /// A participant entered.
    ParticipantJoined,
    /// A participant left or was disconnected.
    ParticipantLeft,
    /// A moderator locked the room.
    RoomLocked,
    /// A moderator unlocked the room.
    RoomUnlocked,
    /// A moderator set the room password.
    PasswordSet,
    /// A moderator removed the room password.
    PasswordRemoved,
    /// A moderator made another participant a moderator (detail: whom).
    ModeratorGranted,
    /// A moderator kicked a participant (detail: whom).
    ParticipantKicked,
    /// A moderator banned a participant (detail: whom, and the device fingerprint).
    ParticipantBanned,
    /// A banned device tried to come back (detail: its fingerprint).
    BannedDeviceRefused,
    /// A participant who is not a moderator sent a moderation message (detail: which).
    ModerationForbidden,
    /// A join was refused (detail: the true reason and the address; the joiner is told only
    /// `access_denied`).
    JoinRefused,
    /// A join attempt hit a rate limit (detail: which limit and the address).
    JoinRateLimited,
    /// A moderator turned the lobby on.
    LobbyEnabled,
    /// A moderator turned the lobby off (everyone waiting was let in).
    LobbyDisabled,
    /// A joiner entered the lobby to wait.
    LobbyKnocked,
    /// A moderator admitted someone from the lobby (detail: whom).
    LobbyAdmitted,
    /// A moderator turned someone away from the lobby (detail: whom; a second denial is
    /// recorded as a ban).
    LobbyDenied,
    /// A moderator muted a participant (detail: whom).
    ParticipantMuted,
    /// A muted participant unmuted itself.
    ParticipantUnmuted,
    /// A moderator changed what each role may do (detail: the permissions).
    PermissionsChanged,
    /// A participant's role may not do what it tried (detail: what).
    PermissionRefused,
    /// A moderator ended the meeting for everyone.
    MeetingEnded,
    /// A moderator turned "nobody joins before a moderator" on or off (detail: which).
    WaitForModeratorChanged,
    /// A connection kept sending over its message budget and was closed (detail: address).
    ConnectionFlooding,
    /// A participant whose connection dropped resumed its session from a new one.
    SessionResumed,
    /// An account was made (detail: its name).
    AccountCreated,
    /// An account was removed (detail: its name).
    AccountRemoved,
    /// An account was given another role in the organisation (detail: its name, the role).
    AccountRoleChanged,
    /// An administrator disabled an account (detail: its name; its sessions ended).
    AccountDisabled,
    /// An administrator enabled a disabled account again (detail: its name).
    AccountEnabled,
    /// An owner or admin invited an account (detail: the invitation, the account, its role,
    /// for how many days).
    InviteCreated,
    /// An owner or admin withdrew an invitation (detail: which).
    InviteWithdrawn,
    /// Someone accepted an invitation, which made their account (detail: the invitation, the
    /// role, who invited, the address).
    InviteAccepted,
    /// A link named no valid invitation (wrong, spent, withdrawn or expired; detail: the
    /// address).
    InviteRefused,
    /// An administration request was refused for want of a permission (detail: which).
    AdminRefused,
    /// An administrator ended an account's sessions (detail: the account, how many).
    SessionsEnded,
    /// An API token was made (detail: its id, name, permissions and lifetime).
    ApiTokenCreated,
    /// An API token was revoked (detail: its id).
    ApiTokenRevoked,
    /// An owner or admin changed the MFA policy (detail: the new policy).
    MfaPolicyChanged,
    /// An account enrolled a second factor (detail: `factor=totp` or `factor=passkey`).
    MfaEnrolled,
    /// An account removed a second factor (detail: which).
    MfaRemoved,
    /// An account made new recovery codes (the old ones stop working).
    RecoveryCodesMade,
    /// The organisation key signed that a device is an account's (detail: the device key's
    /// fingerprint and when the binding expires).
    IdentityBindingIssued,
    /// A recovery code was used in place of a second factor.
    RecoveryCodeUsed,
    /// An administrator removed every second factor of an account (detail: which account).
    MfaReset,
    /// Someone exported the audit log (detail: the format and the filter).
    AuditExported,
    /// An owner or admin changed the organisation's settings (detail: the new settings).
    OrgSettingsChanged,
    /// Someone signed in (detail: the account and the address).
    SignedIn,
    /// A sign-in was refused (detail: the true reason, the name tried and the address; the
    /// client is told only that the credentials are wrong).
    SignInRefused,
    /// Sign-in attempts hit a rate limit (detail: which limit and the address).
    SignInRateLimited,
    /// A session ended by signing out (detail: the account).
    SignedOut,
    /// A banned account tried to come back (detail: the account).
    BannedAccountRefused,
    /// An administrator made a persistent room (detail: its settings).
    PersistentRoomCreated,
    /// An administrator removed a persistent room.
    PersistentRoomRemoved,
    /// A participant's encrypted file was stored in full (detail: its id and size).
    BlobStored,
    /// A participant deleted an encrypted file (detail: its id and uploader; a moderator may
    /// delete another's). Files that expire or go with their room are not recorded.
    BlobDeleted,
    /// A participant started uploading an encrypted recording (detail: its id, its owners'
    /// fingerprints).
    RecordingCreated,
    /// A recording's uploader marked it complete (detail: its id and size).
    RecordingCompleted,
    /// A recording was deleted (detail: its id, and the owner's fingerprint or `retention`).
    RecordingDeleted,
    /// Retention removed the oldest audit records (detail: `removed=`, `up_to=` the last
    /// removed record's number, `last_hash=` its hash, from which the chain goes on).
    AuditPruned,
    /// Retention cut old records' client addresses to their prefixes (detail: how many).
    AuditAddressesTruncated,
    /// A moderator listed the room's breakout rooms (detail: their names).
    BreakoutsOpened,
    /// A moderator closed the room's breakout rooms to newcomers.
    BreakoutsClosed,
}

impl AuditAction {
    /// The name stored in the log and used as the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::RoomCreated => "room_created",
            AuditAction::RoomEnded => "room_ended",
            AuditAction::ParticipantJoined => "participant_joined",
            AuditAction::ParticipantLeft => "participant_left",
            AuditAction::RoomLocked => "room_locked",
            AuditAction::RoomUnlocked => "room_unlocked",
            AuditAction::PasswordSet => "password_set",
            AuditAction::PasswordRemoved => "password_removed",
            AuditAction::ModeratorGranted => "moderator_granted",
            AuditAction::ParticipantKicked => "participant_kicked",
            AuditAction::ParticipantBanned => "participant_banned",
            AuditAction::BannedDeviceRefused => "banned_device_refused",
            AuditAction::ModerationForbidden => "moderation_forbidden",
            AuditAction::JoinRefused => "join_refused",
            AuditAction::JoinRateLimited => "join_rate_limited",
            AuditAction::LobbyEnabled => "lobby_enabled",
            AuditAction::LobbyDisabled => "lobby_disabled",
            AuditAction::LobbyKnocked => "lobby_knocked",
            AuditAction::LobbyAdmitted => "lobby_admitted",
            AuditAction::LobbyDenied => "lobby_denied",
            AuditAction::ParticipantMuted => "participant_muted",
            AuditAction::ParticipantUnmuted => "participant_unmuted",
            AuditAction::PermissionsChanged => "permissions_changed",
            AuditAction::BreakoutsOpened => "breakouts_opened",
            AuditAction::BreakoutsClosed => "breakouts_closed",
            AuditAction::PermissionRefused => "permission_refused",
            AuditAction::MeetingEnded => "meeting_ended",
            AuditAction::WaitForModeratorChanged => "wait_for_moderator_changed",
            AuditAction::ConnectionFlooding => "connection_flooding",
            AuditAction::SessionResumed => "session_resumed",
            AuditAction::AccountCreated => "account_created",
            AuditAction::AccountRemoved => "account_removed",
            AuditAction::AccountRoleChanged => "account_role_changed",
            AuditAction::AccountDisabled => "account_disabled",
            AuditAction::AccountEnabled => "account_enabled",
            AuditAction::InviteCreated => "invite_created",
            AuditAction::InviteWithdrawn => "invite_withdrawn",
            AuditAction::InviteAccepted => "invite_accepted",
            AuditAction::InviteRefused => "invite_refused",
            AuditAction::AdminRefused => "admin_refused",
            AuditAction::SessionsEnded => "sessions_ended",
            AuditAction::ApiTokenCreated => "api_token_created",
            AuditAction::ApiTokenRevoked => "api_token_revoked",
            AuditAction::MfaPolicyChanged => "mfa_policy_changed",
            AuditAction::MfaEnrolled => "mfa_enrolled",
            AuditAction::MfaRemoved => "mfa_removed",
            AuditAction::RecoveryCodesMade => "recovery_codes_made",
            AuditAction::IdentityBindingIssued => "identity_binding_issued",
            AuditAction::RecoveryCodeUsed => "recovery_code_used",
            AuditAction::MfaReset => "mfa_reset",
            AuditAction::AuditExported => "audit_exported",
            AuditAction::OrgSettingsChanged => "org_settings_changed",
            AuditAction::SignedIn => "signed_in",
            AuditAction::SignInRefused => "sign_in_refused",
            AuditAction::SignInRateLimited => "sign_in_rate_limited",
            AuditAction::SignedOut => "signed_out",
            AuditAction::BannedAccountRefused => "banned_account_refused",
            AuditAction::PersistentRoomCreated => "persistent_room_created",
            AuditAction::PersistentRoomRemoved => "persistent_room_removed",
            AuditAction::BlobStored => "blob_stored",
            AuditAction::BlobDeleted => "blob_deleted",
            AuditAction::RecordingCreated => "recording_created",
            AuditAction::RecordingCompleted => "recording_completed",
            AuditAction::RecordingDeleted => "recording_deleted",
            AuditAction::AuditPruned => "audit_pruned",
            AuditAction::AuditAddressesTruncated => "audit_addresses_truncated",
        }
    }
}

/// An audit record to write: `participant` did `action` in `room`; `detail` says to whom or
/// why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditRecord {
    /// What.
    pub action: AuditAction,
    /// Where (`None` for what happens outside rooms: sign-ins, accounts).
    pub room: Option<String>,
    /// Who did it, if a participant did.
    pub participant: Option<String>,
    /// To whom, or why.
    pub detail: Option<String>,
}

/// A persistent room as kept between meetings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersistentRoom {
    /// Its settings.
    pub settings: KeptSettings,
    /// Its password's hash, if it has one.
    pub password: Option<StoredPassword>,
}

/// An account as signing in needs it.
#[derive(Clone, Debug)]
pub struct StoredAccount {
    /// Its id.
    pub id: i64,
    /// Its name, as made.
    pub username: String,
    /// The argon2id PHC string of its password.
    pub password_phc: String,
    /// Its TOTP secret (base32), if it has a second factor.
    pub totp_secret: Option<String>,
    /// Its role in the organisation.
    pub org_role: OrgRole,
}

/// An account as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSummary {
    /// Its name, as made.
    pub username: String,
    /// It has a TOTP second factor.
    pub totp: bool,
    /// Its role in the organisation.
    pub org_role: OrgRole,
    /// An administrator disabled it.
    pub disabled: bool,
}

/// What an account's TOTP seed is sealed for: that account's, and no other's.
fn totp_purpose(username: &str) -> String {
    format!("sealroom totp seed of account {}", username.to_lowercase())
}

/// A stored role name; the table's check admits no other.
fn org_role(name: String) -> Result<OrgRole, StorageError> {
    name.parse()
        .map_err(|_| StorageError::Corrupt(format!("role {name:?}")))
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    /// When, as an RFC 3339 UTC timestamp.
    pub at: String,
    /// What ([`AuditAction::as_str`]).
    pub action: String,
    /// Who did it, if a participant did.
    pub participant: Option<String>,
    /// To whom, or why.
    pub detail: Option<String>,
}

impl Storage {
    /// Opens the PostgreSQL database at `postgres`, or else (creating if needed)
    /// `sealroom.db` in `data_dir`, and migrates it. Either way the key that seals secrets is
    /// `SEALROOM_SECRETS_KEY` or the data directory's.
    pub async fn open(
        data_dir: &Path,
        postgres: Option<&PostgresUrl>,
    ) -> Result<Self, StorageError> {
        std::fs::create_dir_all(data_dir)?;
        let secrets = std::sync::Arc::new(SecretBox::load(data_dir)?);
        let storage = Self {
            database: Database::open(data_dir, postgres).await?,
            secrets,
            audit_chain: Default::default(),
        };
        storage.chain_old_audit_records().await?;
        storage.seal_old_secrets().await?;
        Ok(storage)
    }

    /// The server's external-sender identity, generated on first start and kept.
    pub async fn external_sender_identity(&self) -> Result<DeviceIdentity, StorageError> {
        if let Some((credential, sealed)) = self.server_key("external_sender").await? {
            let secret = self.secrets.open(EXTERNAL_SENDER_PURPOSE, &sealed)?;
            return Ok(DeviceIdentity::from_secret_bytes(&credential, &secret)?);
        }
        let identity = DeviceIdentity::generate(EXTERNAL_SENDER_NAME)?;
        let sealed = self
            .secrets
            .seal(EXTERNAL_SENDER_PURPOSE, &identity.to_secret_bytes());
        self.add_server_key("external_sender", EXTERNAL_SENDER_NAME, &sealed)
            .await?;
        Ok(identity)
    }

    /// The organisation's signing key (see `org_identity`), made on first start and kept
    /// sealed in `server_keys` like the external-sender key.
    pub async fn org_signing_key(&self) -> Result<OrgSigner, StorageError> {
        if let Some((_, sealed)) = self.server_key(ORG_KEY_NAME).await? {
            let seed = self.secrets.open(ORG_KEY_PURPOSE, &sealed)?;
            let seed: &[u8; 32] = seed
                .as_slice()
                .try_into()
                .map_err(|_| StorageError::Corrupt("organisation key".into()))?;
            return Ok(OrgSigner::from_seed(seed));
        }
        let signer = OrgSigner::generate()?;
        let sealed = self.secrets.seal(ORG_KEY_PURPOSE, signer.seed().as_slice());
        self.add_server_key(ORG_KEY_NAME, ORG_KEY_CREDENTIAL, &sealed)
            .await?;
        Ok(signer)
    }

    /// A server key's credential and sealed secret.
    async fn server_key(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StorageError> {
        let sql = "SELECT credential, secret FROM server_keys WHERE name = $1";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).bind(name).fetch_optional(pool).await?
        }))
    }

    async fn add_server_key(
        &self,
        name: &str,
        credential: &str,
        sealed: &[u8],
    ) -> Result<(), StorageError> {
        let sql = "INSERT INTO server_keys (name, credential, secret) VALUES ($1, $2, $3)";
        on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(name)
                .bind(credential)
                .bind(sealed)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Appends audit records, in order, each chained to the one before, in one transaction:
    /// all are kept or none.
    pub async fn append_audit(&self, records: &[&NewAuditRecord]) -> Result<(), StorageError> {
        let _chain = self.audit_chain.lock().await;
        let mut transaction = self.database.begin_audit_chain().await?;
        let head = chain_head(&mut transaction).await?;
        append_chained(&mut transaction, head, records).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// A room's full audit records, oldest first.
    pub async fn audit_log(&self, room: &str) -> Result<Vec<AuditRecord>, StorageError> {
        let sql = "SELECT at, action, participant, detail FROM audit_log WHERE room = $1 \
                   ORDER BY id";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).bind(room).fetch_all(pool).await?
        }))
    }

    /// The audit records outside rooms (sign-ins, accounts), oldest first.
    pub async fn account_audit_log(&self) -> Result<Vec<AuditRecord>, StorageError> {
        let sql = "SELECT at, action, participant, detail FROM audit_log WHERE room IS NULL \
                   ORDER BY id";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).fetch_all(pool).await?
        }))
    }

    /// Makes an account; `None` if the name is taken (names compare without case).
    pub async fn create_account(
        &self,
        username: &str,
        password_phc: &str,
        totp_secret: Option<&str>,
        org_role: OrgRole,
    ) -> Result<Option<i64>, StorageError> {
        let sql = "INSERT INTO accounts (username, password_hash, totp_secret, org_role) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING id";
        let totp_secret = totp_secret.map(|s| self.secrets.seal_text(&totp_purpose(username), s));
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql)
                .bind(username)
                .bind(password_phc)
                .bind(&totp_secret)
                .bind(org_role.as_str())
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Removes an account and ends its sessions; `false` if there was none.
    pub async fn remove_account(&self, username: &str) -> Result<bool, StorageError> {
        let sql = "DELETE FROM accounts WHERE username = $1";
        let removed = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(username)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed == 1)
    }

    /// Every account, sorted by name.
    pub async fn accounts(&self) -> Result<Vec<AccountSummary>, StorageError> {
        let sql = "SELECT username, totp_secret IS NOT NULL, org_role, disabled FROM accounts \
                   ORDER BY username";
        let rows: Vec<(String, bool, String, bool)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(username, totp, role, disabled)| {
                Ok(AccountSummary {
                    username,
                    totp,
                    org_role: org_role(role)?,
                    disabled,
                })
            })
            .collect()
    }

    /// Gives an account another role; `false` if there is no such account.
    pub async fn set_account_role(
        &self,
        username: &str,
        org_role: OrgRole,
    ) -> Result<bool, StorageError> {
        let sql = "UPDATE accounts SET org_role = $1 WHERE username = $2";
        let changed = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(org_role.as_str())
                .bind(username)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    /// An account's TOTP seed, opened.
    fn open_totp_secret(
        &self,
        username: &str,
        sealed: Option<String>,
    ) -> Result<Option<String>, StorageError> {
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let opened = self.secrets.open_text(&totp_purpose(username), &sealed)?;
        Ok(Some(opened.to_string()))
    }

    /// Seals what databases from before sealing keep in the clear: the external-sender key and
    /// TOTP seeds. Once; a sealed value is left alone.
    async fn seal_old_secrets(&self) -> Result<(), StorageError> {
        if self.seal_old_server_keys().await? + self.seal_old_totp_seeds().await? > 0 {
            self.database.scrub_replaced().await?;
        }
        Ok(())
    }

    /// Seals the external-sender key if it is in the clear; how many were.
    async fn seal_old_server_keys(&self) -> Result<usize, StorageError> {
        let Some((_, secret)) = self.server_key("external_sender").await? else {
            return Ok(0);
        };
        if SecretBox::is_sealed(&secret) {
            return Ok(0);
        }
        let sealed = self.secrets.seal(EXTERNAL_SENDER_PURPOSE, &secret);
        let sql = "UPDATE server_keys SET secret = $1 WHERE name = 'external_sender'";
        on_backend!(&self.database, |pool| {
            sqlx::query(sql).bind(&sealed).execute(pool).await?;
        });
        Ok(1)
    }

    /// Seals the TOTP seeds in the clear; how many were.
    async fn seal_old_totp_seeds(&self) -> Result<usize, StorageError> {
        let sql = "SELECT id, username, totp_secret FROM accounts WHERE totp_secret IS NOT NULL";
        let seeds: Vec<(i64, String, String)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        let mut sealed_now = 0;
        for (id, username, seed) in seeds {
            if !SecretBox::is_sealed_text(&seed) {
                let sealed = self.secrets.seal_text(&totp_purpose(&username), &seed);
                let sql = "UPDATE accounts SET totp_secret = $1 WHERE id = $2";
                on_backend!(&self.database, |pool| {
                    sqlx::query(sql)
                        .bind(&sealed)
                        .bind(id)
                        .execute(pool)
                        .await?;
                });
                sealed_now += 1;
            }
        }
        Ok(sealed_now)
    }

    /// An account by name (without case), with what signing in checks.
    pub async fn account_by_name(
        &self,
        username: &str,
    ) -> Result<Option<StoredAccount>, StorageError> {
        let sql = "SELECT id, username, password_hash, totp_secret, org_role FROM accounts \
                   WHERE username = $1";
        let row: Option<(i64, String, String, Option<String>, String)> =
            on_backend!(&self.database, |pool| {
                sqlx::query_as(sql)
                    .bind(username)
                    .fetch_optional(pool)
                    .await?
            });
        row.map(|(id, username, password_phc, totp_secret, role)| {
            Ok(StoredAccount {
                id,
                totp_secret: self.open_totp_secret(&username, totp_secret)?,
                username,
                password_phc,
                org_role: org_role(role)?,
            })
        })
        .transpose()
    }

    /// Takes TOTP time step `step` for the account if it is later than the last one taken: a
    /// code is good once, even within its 30 s.
    pub async fn take_totp_step(&self, account: i64, step: i64) -> Result<bool, StorageError> {
        let sql = "UPDATE accounts SET totp_last_step = $1 \
                   WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)";
        let taken = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(step)
                .bind(account)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(taken == 1)
    }

    /// Ends a session, and forgets every expired one.
    pub async fn delete_session(&self, token_hash: &[u8], now: i64) -> Result<(), StorageError> {
        let sql = "DELETE FROM sessions WHERE token_hash = $1 OR expires_at <= $2";
        on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(token_hash)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Makes a persistent room; `false` if one has the name.
    pub async fn create_persistent_room(
        &self,
        name: &str,
        room: &PersistentRoom,
    ) -> Result<bool, StorageError> {
        let sql = "INSERT INTO persistent_rooms (name, settings, password_hash) \
                   VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
        let settings = serde_json::to_string(&room.settings)?;
        let password = room.password.as_ref().map(StoredPassword::phc);
        let made = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(name)
                .bind(&settings)
                .bind(password)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(made == 1)
    }

    /// Keeps what a meeting changed in a persistent room (nothing if it was removed meanwhile).
    pub async fn update_persistent_room(
        &self,
        name: &str,
        room: &PersistentRoom,
    ) -> Result<(), StorageError> {
        let sql = "UPDATE persistent_rooms SET settings = $1, password_hash = $2 WHERE name = $3";
        let settings = serde_json::to_string(&room.settings)?;
        let password = room.password.as_ref().map(StoredPassword::phc);
        on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(&settings)
                .bind(password)
                .bind(name)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A persistent room, if there is one of that name.
    pub async fn persistent_room(
        &self,
        name: &str,
    ) -> Result<Option<PersistentRoom>, StorageError> {
        let sql = "SELECT settings, password_hash FROM persistent_rooms WHERE name = $1";
        let row: Option<(String, Option<String>)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).bind(name).fetch_optional(pool).await?
        });
        row.map(kept_room).transpose()
    }

    /// Removes a persistent room; `false` if there was none.
    pub async fn remove_persistent_room(&self, name: &str) -> Result<bool, StorageError> {
        let sql = "DELETE FROM persistent_rooms WHERE name = $1";
        let removed = on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed == 1)
    }

    /// The persistent rooms, sorted by name.
    pub async fn persistent_rooms(&self) -> Result<Vec<(String, PersistentRoom)>, StorageError> {
        let sql = "SELECT name, settings, password_hash FROM persistent_rooms ORDER BY name";
        let rows: Vec<(String, String, Option<String>)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(name, settings, password)| Ok((name, kept_room((settings, password))?)))
            .collect()
    }

    /// The audit records of a room, oldest first, as (action, participant).
    pub async fn audit_records(
        &self,
        room: &str,
    ) -> Result<Vec<(String, Option<String>)>, StorageError> {
        let sql = "SELECT action, participant FROM audit_log WHERE room = $1 ORDER BY id";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_as(sql).bind(room).fetch_all(pool).await?
        }))
    }
}

// The audit log's hash chain (docs/audit-log.md): appending, chaining records written before
// it existed, retention, verification and export.

use crate::audit::{self, ChainHash, Chained, GENESIS};

/// Where the chain goes on: the next record's number and the hash it follows.
struct ChainHead {
    next_seq: i64,
    prev: ChainHash,
}

/// A stored audit record with its chain columns.
#[derive(sqlx::FromRow)]
struct ChainRow {
    #[sqlx(rename = "id")]
    seq: i64,
    at: String,
    action: String,
    room: Option<String>,
    participant: Option<String>,
    detail: Option<String>,
    prev_hash: Option<Vec<u8>>,
    hash: Option<Vec<u8>>,
    address_salt: Option<Vec<u8>>,
    address_commitment: Option<Vec<u8>>,
}

const CHAIN_COLUMNS: &str = "id, at, action, room, participant, detail, prev_hash, hash, \
                             address_salt, address_commitment";

impl ChainRow {
    /// The record as an export writes it.
    fn exported(self) -> ExportedAuditRecord {
        ExportedAuditRecord {
            seq: self.seq,
            at: self.at,
            action: self.action,
            room: self.room,
            participant: self.participant,
            detail: self.detail,
            hash: self.hash.map(hex::encode),
        }
    }

    /// The hash this record should have after `prev`, with `commitment` to its addresses.
    fn hash_after(&self, prev: &ChainHash, commitment: Option<&[u8]>) -> ChainHash {
        audit::record_hash(
            prev,
            &Chained {
                seq: self.seq,
                at: &self.at,
                action: &self.action,
                room: self.room.as_deref(),
                participant: self.participant.as_deref(),
                detail: self.detail.as_deref(),
                address_commitment: commitment,
            },
        )
    }
}

/// A stored hash, if it is one.
fn as_hash(bytes: Option<&Vec<u8>>) -> Option<ChainHash> {
    bytes.and_then(|bytes| bytes.as_slice().try_into().ok())
}

async fn chain_head(transaction: &mut Transaction) -> Result<ChainHead, StorageError> {
    // Numbers are never reused: records removed from the end leave a gap that verification
    // reports.
    let sql = format!(
        "SELECT {} + 1, (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1)",
        transaction.last_audit_number()
    );
    let (next_seq, prev): (i64, Option<Vec<u8>>) = on_backend!(&mut *transaction, |tx| {
        sqlx::query_as(&sql).fetch_one(&mut **tx).await?
    });
    Ok(ChainHead {
        next_seq,
        prev: as_hash(prev.as_ref()).unwrap_or(GENESIS),
    })
}

/// Writes `records` after `head`, each with its number, time, address commitment and hash.
async fn append_chained(
    transaction: &mut Transaction,
    mut head: ChainHead,
    records: &[&NewAuditRecord],
) -> Result<(), StorageError> {
    let sql = format!("SELECT {}", transaction.now());
    let at: String = on_backend!(&mut *transaction, |tx| {
        sqlx::query_scalar(&sql).fetch_one(&mut **tx).await?
    });
    for record in records {
        let committed = audit::commit_addresses(record.detail.as_deref());
        let chained = Chained {
            seq: head.next_seq,
            at: &at,
            action: record.action.as_str(),
            room: record.room.as_deref(),
            participant: record.participant.as_deref(),
            detail: record.detail.as_deref(),
            address_commitment: committed
                .as_ref()
                .map(|(_, commitment)| commitment.as_slice()),
        };
        let hash = audit::record_hash(&head.prev, &chained);
        let salt = committed.as_ref().map(|(salt, _)| salt.as_slice());
        insert_chained(transaction, &chained, &head.prev, &hash, salt).await?;
        head = ChainHead {
            next_seq: head.next_seq + 1,
            prev: hash,
        };
    }
    Ok(())
}

/// Inserts `record`, chained after `prev` as `hash`, with the salt of its address commitment.
async fn insert_chained(
    transaction: &mut Transaction,
    record: &Chained<'_>,
    prev: &ChainHash,
    hash: &ChainHash,
    salt: Option<&[u8]>,
) -> Result<(), StorageError> {
    let sql = "INSERT INTO audit_log (id, at, room, participant, action, detail, prev_hash, \
               hash, address_salt, address_commitment) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on_backend!(transaction, |tx| {
        sqlx::query(sql)
            .bind(record.seq)
            .bind(record.at)
            .bind(record.room)
            .bind(record.participant)
            .bind(record.action)
            .bind(record.detail)
            .bind(prev.as_slice())
            .bind(hash.as_slice())
            .bind(salt)
            .bind(record.address_commitment)
            .execute(&mut **tx)
            .await?;
    });
    Ok(())
}

/// What `sealroom audit verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditChainReport {
    /// Records that verified, from the oldest kept on.
    pub verified: u64,
    /// The last verified record's number and hash (hex): keep it elsewhere to detect a
    /// rewrite of the whole chain after it.
    pub head: Option<(i64, String)>,
    /// The first record that does not verify, if one does not.
    pub fault: Option<ChainFault>,
}

/// The first bad record and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainFault {
    /// Its number.
    pub seq: i64,
    /// What is wrong.
    pub problem: ChainProblem,
}

/// What is wrong with a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainProblem {
    /// Removed, not by retention: the chain skips its number.
    Missing,
    /// Removed from the end: numbers up to `last` were handed out.
    MissingAtEnd {
        /// The last number handed out.
        last: i64,
    },
    /// Its contents do not match its hash, which a later record was chained after.
    Edited,
    /// Its contents do not match its hash, and the record after it was chained after
    /// another: it was put in.
    Inserted,
    /// Its client address does not match the commitment its hash covers.
    AddressEdited,
    /// It has no hash: written around the server.
    Unchained,
    /// It was chained after record `follows`, not after the one before it.
    OutOfOrder {
        /// The record it was chained after.
        follows: i64,
    },
    /// It repeats record `of`.
    CopyOf {
        /// The record it repeats.
        of: i64,
    },
    /// It does not follow the record before it, nor any other.
    Unlinked,
}

impl std::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seq = self.seq;
        write!(f, "record {seq}: ")?;
        match &self.problem {
            ChainProblem::Missing => write!(f, "missing (removed, and not by retention)"),
            ChainProblem::MissingAtEnd { last } => write!(
                f,
                "missing (records up to {last} were written; the log ends before them)"
            ),
            ChainProblem::Edited => write!(f, "edited (its contents do not match its hash)"),
            ChainProblem::Inserted => write!(
                f,
                "inserted (its contents do not match its hash and the next record does not \
                 follow it)"
            ),
            ChainProblem::AddressEdited => write!(
                f,
                "edited (its client address does not match the commitment its hash covers)"
            ),
            ChainProblem::Unchained => write!(f, "inserted or edited (it has no hash)"),
            ChainProblem::OutOfOrder { follows } => write!(
                f,
                "out of order (chained after record {follows}, not after record {})",
                seq - 1
            ),
            ChainProblem::CopyOf { of } => write!(f, "inserted (a copy of record {of})"),
            ChainProblem::Unlinked => write!(
                f,
                "inserted or edited (it does not follow record {})",
                seq - 1
            ),
        }
    }
}

/// Which audit records an export or a search lets through.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AuditExportFilter {
    /// From this time on (RFC 3339), inclusive.
    pub since: Option<String>,
    /// Before this time (RFC 3339), exclusive.
    pub until: Option<String>,
    /// Only this room's.
    pub room: Option<String>,
    /// Only this action's ([`AuditAction::as_str`]).
    pub action: Option<String>,
    /// Only this participant's or account's.
    pub participant: Option<String>,
    /// Only records whose detail contains this text.
    pub contains: Option<String>,
}

/// Where a page of audit records starts.
#[derive(Clone, Copy, Debug)]
pub enum AuditPageStart {
    /// The records after this number, oldest first (an export).
    After(i64),
    /// Up to this many records before this number, newest first (a search, going back).
    Before(i64, i64),
}

/// An audit record as exported.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportedAuditRecord {
    /// Its number in the chain.
    pub seq: i64,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// What.
    pub action: String,
    /// Where.
    pub room: Option<String>,
    /// Who.
    pub participant: Option<String>,
    /// To whom, or why.
    pub detail: Option<String>,
    /// Its chain hash (hex).
    pub hash: Option<String>,
}

impl ExportedAuditRecord {
    /// The export's columns, in order (the CSV header).
    pub const COLUMNS: [&str; 7] = [
        "seq",
        "at",
        "action",
        "room",
        "participant",
        "detail",
        "hash",
    ];
}

/// Records read at once by verification and export.
const AUDIT_PAGE: i64 = 500;

impl Storage {
    /// Chains the records written before the chain existed (migration 0004), once.
    async fn chain_old_audit_records(&self) -> Result<(), StorageError> {
        let _chain = self.audit_chain.lock().await;
        let mut transaction = self.database.begin_audit_chain().await?;
        let sql = "SELECT up_to FROM audit_chain_backfill";
        let up_to: Option<i64> = on_backend!(&mut transaction, |tx| {
            sqlx::query_scalar(sql).fetch_optional(&mut **tx).await?
        });
        let Some(up_to) = up_to else {
            return Ok(());
        };
        let sql = format!("SELECT {CHAIN_COLUMNS} FROM audit_log WHERE id <= $1 ORDER BY id");
        let rows: Vec<ChainRow> = on_backend!(&mut transaction, |tx| {
            sqlx::query_as(&sql)
                .bind(up_to)
                .fetch_all(&mut **tx)
                .await?
        });
        let mut prev = GENESIS;
        for row in &rows {
            prev = chain_old_record(&mut transaction, row, prev).await?;
        }
        let sql = "DELETE FROM audit_chain_backfill";
        on_backend!(&mut transaction, |tx| {
            sqlx::query(sql).execute(&mut **tx).await?;
        });
        transaction.commit().await?;
        Ok(())
    }

    /// The time `days` days ago, as records store times.
    pub async fn audit_time_days_ago(&self, days: u32) -> Result<String, StorageError> {
        let sql = format!("SELECT {}", self.database.days_ago("$1"));
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_scalar(&sql)
                .bind(i64::from(days))
                .fetch_one(pool)
                .await?
        }))
    }

    /// Removes the records written before `cutoff` (RFC 3339) and every one before them,
    /// and records that as an `audit_pruned` record naming the last removed record's hash,
    /// which the remaining chain follows. Returns how many were removed.
    pub async fn prune_audit_before(&self, cutoff: &str) -> Result<u64, StorageError> {
        let _chain = self.audit_chain.lock().await;
        let mut transaction = self.database.begin_audit_chain().await?;
        let sql = format!(
            "SELECT id, hash FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log \
             WHERE at < {})",
            transaction.stored_time("$1")
        );
        let last: Option<(i64, Option<Vec<u8>>)> = on_backend!(&mut transaction, |tx| {
            sqlx::query_as(&sql)
                .bind(cutoff)
                .fetch_optional(&mut **tx)
                .await?
        });
        let Some((up_to, last_hash)) = last else {
            return Ok(0);
        };
        let head = chain_head(&mut transaction).await?;
        let removed = delete_audit_up_to(&mut transaction, up_to).await?;
        let detail = audit::prune_detail(removed, up_to, last_hash.as_deref().unwrap_or(&[]));
        let record = NewAuditRecord {
            action: AuditAction::AuditPruned,
            room: None,
            participant: None,
            detail: Some(detail),
        };
        append_chained(&mut transaction, head, &[&record]).await?;
        transaction.commit().await?;
        Ok(removed)
    }

    /// Cuts the client addresses of the records written before `cutoff` (RFC 3339) to their
    /// prefixes and forgets their salts; the chain's hashes stay as they were. Records that
    /// as an `audit_addresses_truncated` record if any were. Returns how many were.
    pub async fn truncate_audit_addresses_before(&self, cutoff: &str) -> Result<u64, StorageError> {
        let _chain = self.audit_chain.lock().await;
        let mut transaction = self.database.begin_audit_chain().await?;
        let sql = format!(
            "SELECT id, detail FROM audit_log WHERE address_salt IS NOT NULL AND at < {} \
             ORDER BY id",
            transaction.stored_time("$1")
        );
        let rows: Vec<(i64, Option<String>)> = on_backend!(&mut transaction, |tx| {
            sqlx::query_as(&sql)
                .bind(cutoff)
                .fetch_all(&mut **tx)
                .await?
        });
        for (id, detail) in &rows {
            let sql = "UPDATE audit_log SET detail = $1, address_salt = NULL WHERE id = $2";
            let truncated = detail.as_deref().map(audit::truncated_detail);
            on_backend!(&mut transaction, |tx| {
                sqlx::query(sql)
                    .bind(&truncated)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            });
        }
        if let Some((last, _)) = rows.last() {
            let record = NewAuditRecord {
                action: AuditAction::AuditAddressesTruncated,
                room: None,
                participant: None,
                detail: Some(format!("truncated={} up_to={last}", rows.len())),
            };
            let head = chain_head(&mut transaction).await?;
            append_chained(&mut transaction, head, &[&record]).await?;
        }
        transaction.commit().await?;
        Ok(rows.len() as u64)
    }

    /// Walks the whole chain, from the oldest record kept (or the latest prune's anchor),
    /// and stops at the first record that does not verify.
    pub async fn verify_audit_chain(&self) -> Result<AuditChainReport, StorageError> {
        let (mut last_seq, mut prev) = self.chain_anchor().await?;
        let mut report = AuditChainReport {
            verified: 0,
            head: None,
            fault: None,
        };
        loop {
            let rows = self.chain_rows_after(last_seq).await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                if let Some(problem) = self.check_record(last_seq, &prev, row).await? {
                    let seq = if problem == ChainProblem::Missing {
                        last_seq + 1
                    } else {
                        row.seq
                    };
                    report.fault = Some(ChainFault { seq, problem });
                    return Ok(report);
                }
                (last_seq, prev) = (row.seq, as_hash(row.hash.as_ref()).unwrap_or(GENESIS));
                report.verified += 1;
                report.head = Some((last_seq, hex::encode(prev)));
            }
        }
        report.fault = self.check_end(last_seq).await?;
        Ok(report)
    }

    /// The number and hash the oldest kept record follows: the latest prune's anchor, or
    /// the beginning.
    async fn chain_anchor(&self) -> Result<(i64, ChainHash), StorageError> {
        let sql =
            "SELECT detail FROM audit_log WHERE action = 'audit_pruned' ORDER BY id DESC LIMIT 1";
        let detail: Option<Option<String>> = on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql).fetch_optional(pool).await?
        });
        Ok(detail
            .flatten()
            .and_then(|detail| audit::prune_anchor(&detail))
            .unwrap_or((0, GENESIS)))
    }

    async fn chain_rows_after(&self, seq: i64) -> Result<Vec<ChainRow>, StorageError> {
        let sql =
            format!("SELECT {CHAIN_COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2");
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_as(&sql)
                .bind(seq)
                .bind(AUDIT_PAGE)
                .fetch_all(pool)
                .await?
        }))
    }

    /// What is wrong with `row`, which should follow record `prev_seq` of hash `prev`.
    async fn check_record(
        &self,
        prev_seq: i64,
        prev: &ChainHash,
        row: &ChainRow,
    ) -> Result<Option<ChainProblem>, StorageError> {
        if row.seq != prev_seq + 1 {
            return Ok(Some(ChainProblem::Missing));
        }
        let (Some(stored_prev), Some(stored)) =
            (as_hash(row.prev_hash.as_ref()), as_hash(row.hash.as_ref()))
        else {
            return Ok(Some(ChainProblem::Unchained));
        };
        if stored_prev != *prev {
            return Ok(Some(
                self.broken_link(row.seq, &stored_prev, &stored).await?,
            ));
        }
        if row.hash_after(prev, row.address_commitment.as_deref()) != stored {
            return Ok(Some(self.edited_or_inserted(row.seq, &stored).await?));
        }
        let holds = audit::addresses_hold(
            row.detail.as_deref(),
            row.address_salt.as_deref(),
            row.address_commitment.as_deref(),
        );
        Ok((!holds).then_some(ChainProblem::AddressEdited))
    }

    /// Why record `seq` (stored hash `hash`) does not follow the record before it: it repeats
    /// another, or follows another, or nothing at all.
    async fn broken_link(
        &self,
        seq: i64,
        stored_prev: &ChainHash,
        hash: &ChainHash,
    ) -> Result<ChainProblem, StorageError> {
        if let Some(of) = self.other_record_with_hash(hash, seq).await? {
            return Ok(ChainProblem::CopyOf { of });
        }
        Ok(match self.other_record_with_hash(stored_prev, seq).await? {
            Some(follows) => ChainProblem::OutOfOrder { follows },
            None => ChainProblem::Unlinked,
        })
    }

    /// The first record but `seq` whose hash is `hash`.
    async fn other_record_with_hash(
        &self,
        hash: &ChainHash,
        seq: i64,
    ) -> Result<Option<i64>, StorageError> {
        let sql = "SELECT id FROM audit_log WHERE hash = $1 AND id <> $2 ORDER BY id LIMIT 1";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql)
                .bind(hash.as_slice())
                .bind(seq)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// A record whose contents do not match its hash was edited if the next record follows
    /// it (its hash was made when it was written), or is the last; else it was put in.
    async fn edited_or_inserted(
        &self,
        seq: i64,
        hash: &ChainHash,
    ) -> Result<ChainProblem, StorageError> {
        let sql = "SELECT prev_hash = $1 FROM audit_log WHERE id = $2";
        let next_follows: Option<bool> = on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql)
                .bind(hash.as_slice())
                .bind(seq + 1)
                .fetch_optional(pool)
                .await?
        });
        Ok(match next_follows {
            Some(false) => ChainProblem::Inserted,
            Some(true) | None => ChainProblem::Edited,
        })
    }

    /// Records removed from the end leave the numbers handed out behind them.
    async fn check_end(&self, last_seq: i64) -> Result<Option<ChainFault>, StorageError> {
        let sql = format!("SELECT {}", self.database.last_audit_number());
        let last: i64 = on_backend!(&self.database, |pool| {
            sqlx::query_scalar(&sql).fetch_one(pool).await?
        });
        Ok((last > last_seq).then_some(ChainFault {
            seq: last_seq + 1,
            problem: ChainProblem::MissingAtEnd { last },
        }))
    }

    /// A page of the records `filter` lets through, from `start`.
    pub async fn audit_page(
        &self,
        filter: &AuditExportFilter,
        start: AuditPageStart,
    ) -> Result<Vec<ExportedAuditRecord>, StorageError> {
        let (seq, order, limit) = match start {
            AuditPageStart::After(seq) => (seq, "id > $1 ORDER BY id", AUDIT_PAGE),
            AuditPageStart::Before(seq, limit) => (seq, "id < $1 ORDER BY id DESC", limit),
        };
        let database = &self.database;
        let sql = format!(
            "SELECT {CHAIN_COLUMNS} FROM audit_log \
             WHERE ($2 IS NULL OR at >= {since}) AND ($3 IS NULL OR at < {until}) \
             AND ($4 IS NULL OR room = $4) AND ($5 IS NULL OR action = $5) \
             AND ($6 IS NULL OR participant = $6) AND ($7 IS NULL OR {contains}) \
             AND {order} LIMIT $8",
            since = database.stored_time("$2"),
            until = database.stored_time("$3"),
            contains = database.contains("detail", "$7"),
        );
        let rows: Vec<ChainRow> = on_backend!(database, |pool| {
            sqlx::query_as(&sql)
                .bind(seq)
                .bind(&filter.since)
                .bind(&filter.until)
                .bind(&filter.room)
                .bind(&filter.action)
                .bind(&filter.participant)
                .bind(&filter.contains)
                .bind(limit.min(AUDIT_PAGE))
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(ChainRow::exported).collect())
    }
}

/// Chains `row`, written before the chain existed, after `prev`; its hash.
async fn chain_old_record(
    transaction: &mut Transaction,
    row: &ChainRow,
    prev: ChainHash,
) -> Result<ChainHash, StorageError> {
    let committed = audit::commit_addresses(row.detail.as_deref());
    let commitment = committed
        .as_ref()
        .map(|(_, commitment)| commitment.as_slice());
    let salt = committed.as_ref().map(|(salt, _)| salt.as_slice());
    let hash = row.hash_after(&prev, commitment);
    let sql = "UPDATE audit_log SET prev_hash = $1, hash = $2, address_salt = $3, \
               address_commitment = $4 WHERE id = $5";
    on_backend!(transaction, |tx| {
        sqlx::query(sql)
            .bind(prev.as_slice())
            .bind(hash.as_slice())
            .bind(salt)
            .bind(commitment)
            .bind(row.seq)
            .execute(&mut **tx)
            .await?;
    });
    Ok(hash)
}

/// Removes the audit records up to `up_to`: how many. The delete trigger lets through only
/// what `audit_pruning` names, in this transaction.
async fn delete_audit_up_to(
    transaction: &mut Transaction,
    up_to: i64,
) -> Result<u64, StorageError> {
    let (allow, delete, disallow) = (
        "INSERT INTO audit_pruning (up_to) VALUES ($1)",
        "DELETE FROM audit_log WHERE id <= $1",
        "DELETE FROM audit_pruning",
    );
    Ok(on_backend!(transaction, |tx| {
        sqlx::query(allow).bind(up_to).execute(&mut **tx).await?;
        let removed = sqlx::query(delete)
            .bind(up_to)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        sqlx::query(disallow).execute(&mut **tx).await?;
        removed
    }))
}

/// A persistent room as its row keeps it.
fn kept_room(
    (settings, password): (String, Option<String>),
) -> Result<PersistentRoom, StorageError> {
    Ok(PersistentRoom {
        settings: serde_json::from_str(&settings)?,
        password: password.map(StoredPassword::from_phc),
    })
}

/// An account signed in through an identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalAccount {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub username: String,
    /// Its role in the organisation.
    pub org_role: OrgRole,
}

/// The password hash of an account made by an identity provider: no PHC string, so no
/// password verifies against it.
pub const NO_PASSWORD: &str = "!external";

/// External identities (OpenID Connect): accounts by (provider, subject), and the sessions a
/// provider's sign-in opened.
impl Storage {
    /// The account of `subject` at `provider`, if it signed in before.
    pub async fn external_account(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExternalAccount>, StorageError> {
        let sql = "SELECT accounts.id, accounts.username, accounts.org_role \
                   FROM external_identities \
                   JOIN accounts ON accounts.id = external_identities.account_id \
                   WHERE provider = $1 AND subject = $2";
        let row: Option<(i64, String, String)> = on_backend!(&self.database, |pool| {
            sqlx::query_as(sql)
                .bind(provider)
                .bind(subject)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(id, username, role)| {
            Ok(ExternalAccount {
                id,
                username,
                org_role: org_role(role)?,
            })
        })
        .transpose()
    }

    /// Makes the account of `subject` at `provider`, named `base` or, if taken, `base-2`,
    /// `base-3`, … (never an existing account: a name claimed at a provider takes over
    /// nothing), with no usable password.
    pub async fn create_external_account(
        &self,
        provider: &str,
        subject: &str,
        base: &str,
        role: OrgRole,
    ) -> Result<ExternalAccount, StorageError> {
        let mut transaction = self.database.begin().await?;
        let (id, username) = insert_free_username(&mut transaction, base, role).await?;
        let sql = "INSERT INTO external_identities (provider, subject, account_id) \
                   VALUES ($1, $2, $3)";
        on_backend!(&mut transaction, |tx| {
            sqlx::query(sql)
                .bind(provider)
                .bind(subject)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        });
        transaction.commit().await?;
        Ok(ExternalAccount {
            id,
            username,
            org_role: role,
        })
    }

    /// Notes that a session was opened by `provider`'s sign-in, with its ID token.
    pub async fn record_oidc_session(
        &self,
        token_hash: &[u8],
        provider: &str,
        id_token: &str,
    ) -> Result<(), StorageError> {
        let sql = "INSERT INTO oidc_sessions (token_hash, provider, id_token) VALUES ($1, $2, $3)";
        on_backend!(&self.database, |pool| {
            sqlx::query(sql)
                .bind(token_hash)
                .bind(provider)
                .bind(id_token)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The provider and ID token of an unexpired session a provider's sign-in opened.
    pub async fn oidc_session(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<(String, String)>, StorageError> {
        let sql = "SELECT oidc_sessions.provider, oidc_sessions.id_token FROM oidc_sessions \
                   JOIN sessions ON sessions.token_hash = oidc_sessions.token_hash \
                   WHERE oidc_sessions.token_hash = $1 AND sessions.expires_at > $2";
        Ok(on_backend!(&self.database, |pool| {
            sqlx::query_as(sql)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        }))
    }
}

/// Makes an account with no usable password named `base`, or `base-2`, `base-3`, … if taken:
/// its id and name.
async fn insert_free_username(
    transaction: &mut Transaction,
    base: &str,
    role: OrgRole,
) -> Result<(i64, String), StorageError> {
    let sql = "INSERT INTO accounts (username, password_hash, org_role) VALUES ($1, $2, $3) \
               ON CONFLICT (username) DO NOTHING RETURNING id";
    for n in 1..=50u32 {
        let username = match n {
            1 => base.to_owned(),
            _ => format!("{base}-{n}"),
        };
        let made: Option<i64> = on_backend!(&mut *transaction, |tx| {
            sqlx::query_scalar(sql)
                .bind(&username)
                .bind(NO_PASSWORD)
                .bind(role.as_str())
                .fetch_optional(&mut **tx)
                .await?
        });
        if let Some(id) = made {
            return Ok((id, username));
        }
    }
    Err(StorageError::Corrupt(format!("{base}-N")))
}
