//! The organisation's settings that owners and admins change in the console or through
//! `/api/admin/settings`: whether guests (people not signed in) may join at all and may open
//! rooms, whether owners and admins moderate every meeting they join, what a new room starts
//! with — a lobby, nobody before a moderator, and who may share the screen, chat, send files,
//! record and open polls — the shortest room password, and how large encrypted files and
//! recordings may be and how long they are kept. The configuration file's values are where
//! they start; once saved, the saved settings hold. A persistent room keeps its own room
//! settings instead; a room's moderators may change its settings during the meeting, as ever.

use serde::{Deserialize, Serialize};

use crate::{
    config::{Config, FilesSettings, RecordingSettings},
    room::KeptSettings,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSettings {
    /// People who have not signed in may join (a room's own rules still apply).
    pub guests_may_join: bool,
    /// People who have not signed in may open a room nobody is in (and so moderate it).
    pub guests_create_rooms: bool,
    /// Owners and admins moderate every meeting they join (else they join as any member).
    pub admins_moderate: bool,
    /// What a new room, not a persistent one, starts with.
    pub new_rooms: KeptSettings,
    /// The shortest password a room may be given (by its moderators or an administrator).
    pub room_password_min_chars: usize,
    /// The largest encrypted file a participant may share, in bytes.
    pub max_file_bytes: u64,
    /// How long a shared file is kept at most, in seconds (it goes with its room earlier).
    pub file_lifetime_secs: u64,
    /// The largest encrypted recording, in bytes.
    pub max_recording_bytes: u64,
    /// How many days a recording is kept unless its owner deletes it first.
    pub recording_retention_days: u64,
}

/// The configuration's limits of the file and recording stores: the settings set the size
/// and lifetime of each file and recording within its quotas.
#[derive(Clone, Copy, Debug)]
pub struct ConfiguredStores {
    pub files: FilesSettings,
    pub recording: RecordingSettings,
}

/// Why settings were refused: the API says so, and nothing changes.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value out of its range (the message names the setting and the range).
    #[error("{0}")]
    OutOfRange(String),
    /// Not the settings' JSON.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

impl OrgSettings {
    /// What an organisation starts with: the configuration's values.
    pub fn from_config(config: &Config) -> Self {
        Self {
            guests_may_join: true,
            guests_create_rooms: config.accounts.guests_create_rooms,
            admins_moderate: true,
            new_rooms: KeptSettings::default(),
            room_password_min_chars: config.access.password_min_chars,
            max_file_bytes: config.files.max_blob_bytes,
            file_lifetime_secs: config.files.lifetime_secs,
            max_recording_bytes: config.recording.max_bytes,
            recording_retention_days: config.recording.retention_days,
        }
    }

    /// These settings with the fields `changes` (a JSON object) names replaced: a setting
    /// saved before it existed, or left out of a change, keeps its value.
    pub fn overlaid(&self, changes: serde_json::Value) -> Result<Self, SettingsError> {
        let serde_json::Value::Object(changes) = changes else {
            return Err(SettingsError::OutOfRange(
                "settings are a JSON object".into(),
            ));
        };
        let mut merged = serde_json::to_value(self)?;
        for (name, value) in changes {
            merged[name] = value;
        }
        Ok(serde_json::from_value(merged)?)
    }

    /// The file store's limits under these settings.
    pub fn files(&self, configured: FilesSettings) -> FilesSettings {
        FilesSettings {
            max_blob_bytes: self.max_file_bytes,
            lifetime_secs: self.file_lifetime_secs,
            ..configured
        }
    }

    /// The recording store's limits under these settings.
    pub fn recording(&self, configured: RecordingSettings) -> RecordingSettings {
        RecordingSettings {
            max_bytes: self.max_recording_bytes,
            retention_days: self.recording_retention_days,
            ..configured
        }
    }

    /// Whether each value is within what this server can keep to: the configuration's quotas
    /// bound the sizes.
    pub fn check(&self, stores: ConfiguredStores) -> Result<(), SettingsError> {
        let out_of_range = |name: &str, range: &str| {
            Err(SettingsError::OutOfRange(format!("{name} must be {range}")))
        };
        if !(8..=64).contains(&self.room_password_min_chars) {
            return out_of_range("room_password_min_chars", "between 8 and 64");
        }
        if !(1..=stores.files.room_quota_bytes).contains(&self.max_file_bytes) {
            return out_of_range(
                "max_file_bytes",
                "between 1 and the room quota (files.room_quota_bytes)",
            );
        }
        if self.file_lifetime_secs == 0 {
            return out_of_range("file_lifetime_secs", "at least 1");
        }
        if !(1..=stores.recording.server_quota_bytes).contains(&self.max_recording_bytes) {
            return out_of_range(
                "max_recording_bytes",
                "between 1 and the server quota (recording.server_quota_bytes)",
            );
        }
        if self.recording_retention_days == 0 {
            return out_of_range("recording_retention_days", "at least 1");
        }
        Ok(())
    }
}

/// A server with the default configuration's settings.
impl Default for OrgSettings {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_settings_overlay_the_configurations_and_set_the_stores_limits() {
        let mut config = Config::default();
        config.recording.retention_days = 7;
        let defaults = OrgSettings::from_config(&config);
        // Saved before the size limits existed: they keep the configuration's values.
        let saved = serde_json::json!({ "guests_may_join": false, "max_recording_bytes": 1000 });
        let settings = defaults.overlaid(saved).unwrap();
        assert!(!settings.guests_may_join);
        assert_eq!(settings.recording_retention_days, 7);
        let recording = settings.recording(config.recording);
        assert_eq!((recording.max_bytes, recording.retention_days), (1000, 7));
        assert_eq!(
            recording.server_quota_bytes,
            config.recording.server_quota_bytes
        );
        assert_eq!(settings.files(config.files), config.files);
        let unknown = serde_json::json!({ "everyone_moderates": true });
        assert!(defaults.overlaid(unknown).is_err());
        assert!(defaults.overlaid(serde_json::json!([1])).is_err());
    }
}
