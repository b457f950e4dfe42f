//! The organisation's settings (`crate::org_settings`), one JSON row.

use super::{Storage, StorageError, database::on_backend};
use crate::org_settings::OrgSettings;

impl Storage {
    /// The settings last saved over `defaults` (a setting saved before it existed keeps its
    /// default), or the defaults if none were.
    pub async fn org_settings(&self, defaults: OrgSettings) -> Result<OrgSettings, StorageError> {
        let sql = "SELECT settings FROM org_settings WHERE id = 1";
        let saved: Option<String> = on_backend!(&self.database, |pool| {
            sqlx::query_scalar(sql).fetch_optional(pool).await?
        });
        match saved {
            Some(json) => defaults
                .overlaid(serde_json::from_str(&json)?)
                .map_err(|e| StorageError::Corrupt(format!("organisation settings ({e})"))),
            None => Ok(defaults),
        }
    }

    /// Saves `settings` in place of the last.
    pub async fn set_org_settings(&self, settings: &OrgSettings) -> Result<(), StorageError> {
        let sql = format!(
            "INSERT INTO org_settings (id, settings) VALUES (1, $1) ON CONFLICT (id) DO UPDATE \
             SET settings = excluded.settings, changed_at = {}",
            self.database.now()
        );
        let settings = serde_json::to_string(settings)?;
        on_backend!(&self.database, |pool| {
            sqlx::query(&sql).bind(&settings).execute(pool).await?;
        });
        Ok(())
    }
}
