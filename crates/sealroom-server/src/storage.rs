//! The embedded SQLite database in the data directory: the server's keys and the audit log.
//! Migrations run at start.

use std::path::Path;

use sealroom_e2ee::{DeviceIdentity, GroupError};
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
            AuditAction::PermissionRefused => "permission_refused",
            AuditAction::MeetingEnded => "meeting_ended",
            AuditAction::WaitForModeratorChanged => "wait_for_moderator_changed",
            AuditAction::ConnectionFlooding => "connection_flooding",
            AuditAction::SessionResumed => "session_resumed",
        }
    }
}

/// An audit record to write: `participant` did `action` in `room`; `detail` says to whom or
/// why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditRecord {
    /// What.
    pub action: AuditAction,
    /// Where.
    pub room: String,
    /// Who did it, if a participant did.
    pub participant: Option<String>,
    /// To whom, or why.
    pub detail: Option<String>,
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
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    at: row.try_get("at")?,
                    action: row.try_get("action")?,
                    participant: row.try_get("participant")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
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
