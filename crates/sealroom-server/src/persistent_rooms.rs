//! An organisation's persistent rooms, made and removed by an administrator (`sealroom room`).
//! Such a room still has a meeting only while someone is in it, but its name stays reserved
//! and its settings and password are kept between meetings: a meeting opens with them, and
//! what its moderators change is kept for the next (see `signalling`).

use crate::{
    password::{PasswordPolicy, PolicyError, StoredPassword},
    room::KeptSettings,
    storage::{AuditAction, NewAuditRecord, PersistentRoom, Storage, StorageError},
};
use sealroom_protocol::RoomName;

/// Why a persistent room could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum PersistentRoomError {
    /// Not a room name.
    #[error("room names are 1-64 of a-z 0-9 -")]
    InvalidName,
    /// A persistent room has the name.
    #[error("a persistent room named {0:?} exists")]
    Exists(String),
    /// No persistent room has the name.
    #[error("no persistent room is named {0:?}")]
    Missing(String),
    /// The password does not meet the policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] crate::password::HashError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn parse_name(name: &str) -> Result<RoomName, PersistentRoomError> {
    RoomName::parse(name).ok_or(PersistentRoomError::InvalidName)
}

/// Records a change to a persistent room, by the account `by` (none: on the server's machine).
async fn audit(
    storage: &Storage,
    action: AuditAction,
    room: &RoomName,
    by: Option<&str>,
    detail: Option<String>,
) -> Result<(), StorageError> {
    storage
        .append_audit(&[&NewAuditRecord {
            action,
            room: Some(room.as_str().to_owned()),
            participant: by.map(str::to_owned),
            detail,
        }])
        .await
}

/// Makes a persistent room with `settings` and, if given, a password under `policy`; `by`
/// is the account that asked (none: `sealroom room add`).
pub async fn create(
    storage: &Storage,
    policy: PasswordPolicy,
    name: &str,
    settings: KeptSettings,
    password: Option<&str>,
    by: Option<&str>,
) -> Result<(), PersistentRoomError> {
    let name = parse_name(name)?;
    let password = match password {
        Some(password) => {
            policy.check(password)?;
            let password = password.to_owned();
            let hashed = tokio::task::spawn_blocking(move || StoredPassword::hash(&password))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
            Some(hashed)
        }
        None => None,
    };
    let room = PersistentRoom { settings, password };
    if !storage.create_persistent_room(name.as_str(), &room).await? {
        return Err(PersistentRoomError::Exists(name.to_string()));
    }
    let detail = format!(
        "{} password={}",
        serde_json::to_string(&settings).unwrap_or_default(),
        room.password.is_some()
    );
    audit(
        storage,
        AuditAction::PersistentRoomCreated,
        &name,
        by,
        Some(detail),
    )
    .await?;
    Ok(())
}

/// Removes a persistent room: its name is free again, and a meeting going on in it carries on
/// as an ordinary room that vanishes when empty.
pub async fn remove(
    storage: &Storage,
    name: &str,
    by: Option<&str>,
) -> Result<(), PersistentRoomError> {
    let name = parse_name(name)?;
    if !storage.remove_persistent_room(name.as_str()).await? {
        return Err(PersistentRoomError::Missing(name.to_string()));
    }
    audit(storage, AuditAction::PersistentRoomRemoved, &name, by, None).await?;
    Ok(())
}
