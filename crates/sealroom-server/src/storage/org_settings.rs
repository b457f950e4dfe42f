//! The organisation's settings (`crate::org_settings`), one JSON row.

use super::{Storage, StorageError};
use crate::org_settings::OrgSettings;

impl Storage {
    /// The settings last saved over `defaults` (a setting saved before it existed keeps its
    /// default), or the defaults if none were.
    pub async fn org_settings(&self, defaults: OrgSettings) -> Result<OrgSettings, StorageError> {
        let saved: Option<String> =
            sqlx::query_scalar("SELECT settings FROM org_settings WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        match saved {
            Some(json) => defaults
                .overlaid(serde_json::from_str(&json)?)
                .map_err(|e| StorageError::Corrupt(format!("organisation settings ({e})"))),
            None => Ok(defaults),
        }
    }

    /// Saves `settings` in place of the last.
    pub async fn set_org_settings(&self, settings: &OrgSettings) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO org_settings (id, settings) VALUES (1, ?) ON CONFLICT (id) DO UPDATE \
             SET settings = excluded.settings, \
             changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(serde_json::to_string(settings)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
