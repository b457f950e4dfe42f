//! The embedded SQLite database in the data directory: the server's keys, the audit log,
//! accounts with their sessions, and the organisation's persistent rooms. Migrations run at
//! start.

use std::path::Path;

use sealroom_e2ee::{DeviceIdentity, GroupError};

use crate::{password::StoredPassword, room::KeptSettings};
use sqlx::{
    Row, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};

/// Credential name of the server's MLS external-sender identity.
const EXTERNAL_SENDER_NAME: &str = "sealroom-delivery-service";

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
}

/// The database.
#[derive(Clone)]
pub struct Storage {
    pool: SqlitePool,
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
}

fn audit_record(row: &sqlx::sqlite::SqliteRow) -> Result<AuditRecord, StorageError> {
    Ok(AuditRecord {
        at: row.try_get("at")?,
        action: row.try_get("action")?,
        participant: row.try_get("participant")?,
        detail: row.try_get("detail")?,
    })
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Opens (creating if needed) `sealroom.db` in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(data_dir)?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("sealroom.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every acknowledged write survives a crash (an audit record is never lost).
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePool::connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The server's external-sender identity, generated on first start and kept.
    pub async fn external_sender_identity(&self) -> Result<DeviceIdentity, StorageError> {
        let row = sqlx::query("SELECT credential, secret FROM server_keys WHERE name = ?")
            .bind("external_sender")
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            let credential: String = row.try_get("credential")?;
            let secret: Vec<u8> = row.try_get("secret")?;
            return Ok(DeviceIdentity::from_secret_bytes(&credential, &secret)?);
        }
        let identity = DeviceIdentity::generate(EXTERNAL_SENDER_NAME)?;
        sqlx::query("INSERT INTO server_keys (name, credential, secret) VALUES (?, ?, ?)")
            .bind("external_sender")
            .bind(EXTERNAL_SENDER_NAME)
            .bind(identity.to_secret_bytes().as_slice())
            .execute(&self.pool)
            .await?;
        Ok(identity)
    }

    /// Appends audit records, in order, in one transaction: all are kept or none.
    pub async fn append_audit(&self, records: &[&NewAuditRecord]) -> Result<(), StorageError> {
        let mut transaction = self.pool.begin().await?;
        for record in records {
            sqlx::query(
                "INSERT INTO audit_log (room, participant, action, detail) VALUES (?, ?, ?, ?)",
            )
            .bind(&record.room)
            .bind(&record.participant)
            .bind(record.action.as_str())
            .bind(&record.detail)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// A room's full audit records, oldest first.
    pub async fn audit_log(&self, room: &str) -> Result<Vec<AuditRecord>, StorageError> {
        let rows = sqlx::query(
            "SELECT at, action, participant, detail FROM audit_log WHERE room = ? ORDER BY id",
        )
        .bind(room)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_record).collect()
    }

    /// The audit records outside rooms (sign-ins, accounts), oldest first.
    pub async fn account_audit_log(&self) -> Result<Vec<AuditRecord>, StorageError> {
        let rows = sqlx::query(
            "SELECT at, action, participant, detail FROM audit_log WHERE room IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_record).collect()
    }

    /// Makes an account; `None` if the name is taken (names compare without case).
    pub async fn create_account(
        &self,
        username: &str,
        password_phc: &str,
        totp_secret: Option<&str>,
    ) -> Result<Option<i64>, StorageError> {
        let result = sqlx::query(
            "INSERT INTO accounts (username, password_hash, totp_secret) VALUES (?, ?, ?) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(password_phc)
        .bind(totp_secret)
        .execute(&self.pool)
        .await?;
        Ok((result.rows_affected() == 1).then(|| result.last_insert_rowid()))
    }

    /// Removes an account and ends its sessions; `false` if there was none.
    pub async fn remove_account(&self, username: &str) -> Result<bool, StorageError> {
        let result = sqlx::query("DELETE FROM accounts WHERE username = ?")
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Every account's name, with whether it has a second factor, sorted.
    pub async fn account_names(&self) -> Result<Vec<(String, bool)>, StorageError> {
        let rows =
            sqlx::query("SELECT username, totp_secret IS NOT NULL FROM accounts ORDER BY username")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// An account by name (without case), with what signing in checks.
    pub async fn account_by_name(
        &self,
        username: &str,
    ) -> Result<Option<StoredAccount>, StorageError> {
        let row = sqlx::query(
            "SELECT id, username, password_hash, totp_secret FROM accounts WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredAccount {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                password_phc: row.try_get("password_hash")?,
                totp_secret: row.try_get("totp_secret")?,
            })
        })
        .transpose()
    }

    /// Takes TOTP time step `step` for the account if it is later than the last one taken: a
    /// code is good once, even within its 30 s.
    pub async fn take_totp_step(&self, account: i64, step: i64) -> Result<bool, StorageError> {
        let result = sqlx::query(
            "UPDATE accounts SET totp_last_step = ? \
             WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
        )
        .bind(step)
        .bind(account)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Keeps a new session (by its token's hash) until `expires_at` (Unix seconds).
    pub async fn create_session(
        &self,
        token_hash: &[u8],
        account: i64,
        expires_at: i64,
    ) -> Result<(), StorageError> {
        sqlx::query("INSERT INTO sessions (token_hash, account_id, expires_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(account)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The account of an unexpired session, as (id, username).
    pub async fn session_account(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<Option<(i64, String)>, StorageError> {
        let row = sqlx::query(
            "SELECT accounts.id, accounts.username FROM sessions \
             JOIN accounts ON accounts.id = sessions.account_id \
             WHERE sessions.token_hash = ? AND sessions.expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .transpose()
    }

    /// Ends a session, and forgets every expired one.
    pub async fn delete_session(&self, token_hash: &[u8], now: i64) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ? OR expires_at <= ?")
            .bind(token_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes a persistent room; `false` if one has the name.
    pub async fn create_persistent_room(
        &self,
        name: &str,
        room: &PersistentRoom,
    ) -> Result<bool, StorageError> {
        let result = sqlx::query(
            "INSERT INTO persistent_rooms (name, settings, password_hash) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(serde_json::to_string(&room.settings)?)
        .bind(room.password.as_ref().map(StoredPassword::phc))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Keeps what a meeting changed in a persistent room (nothing if it was removed meanwhile).
    pub async fn update_persistent_room(
        &self,
        name: &str,
        room: &PersistentRoom,
    ) -> Result<(), StorageError> {
        sqlx::query("UPDATE persistent_rooms SET settings = ?, password_hash = ? WHERE name = ?")
            .bind(serde_json::to_string(&room.settings)?)
            .bind(room.password.as_ref().map(StoredPassword::phc))
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A persistent room, if there is one of that name.
    pub async fn persistent_room(
        &self,
        name: &str,
    ) -> Result<Option<PersistentRoom>, StorageError> {
        let row =
            sqlx::query("SELECT settings, password_hash FROM persistent_rooms WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| {
            let settings: String = row.try_get("settings")?;
            let password: Option<String> = row.try_get("password_hash")?;
            Ok(PersistentRoom {
                settings: serde_json::from_str(&settings)?,
                password: password.map(StoredPassword::from_phc),
            })
        })
        .transpose()
    }

    /// Removes a persistent room; `false` if there was none.
    pub async fn remove_persistent_room(&self, name: &str) -> Result<bool, StorageError> {
        let result = sqlx::query("DELETE FROM persistent_rooms WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The persistent rooms' names, sorted.
    pub async fn persistent_room_names(&self) -> Result<Vec<String>, StorageError> {
        let rows = sqlx::query("SELECT name FROM persistent_rooms ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
    }

    /// The audit records of a room, oldest first, as (action, participant).
    pub async fn audit_records(
        &self,
        room: &str,
    ) -> Result<Vec<(String, Option<String>)>, StorageError> {
        let rows =
            sqlx::query("SELECT action, participant FROM audit_log WHERE room = ? ORDER BY id")
                .bind(room)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("action")?, row.try_get("participant")?)))
            .collect()
    }
}
