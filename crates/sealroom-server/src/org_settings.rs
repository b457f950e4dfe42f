//! The organisation's settings that owners and admins change in the console or through
//! `/api/admin/settings`: whether guests (people not signed in) may join at all, whether owners
//! and admins moderate every meeting they join, and what a new room starts with — a lobby, nobody before a moderator, and who may share the screen, chat,
//! send files, record and open polls. A persistent room keeps its own settings instead; a
//! room's moderators may change its settings during the meeting, as ever.

use serde::{Deserialize, Serialize};

use crate::room::KeptSettings;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrgSettings {
    /// People who have not signed in may join (a room's own rules still apply).
    pub guests_may_join: bool,
    /// Owners and admins moderate every meeting they join (else they join as any member).
    pub admins_moderate: bool,
    /// What a new room, not a persistent one, starts with.
    pub new_rooms: KeptSettings,
}

impl Default for OrgSettings {
    fn default() -> Self {
        Self {
            guests_may_join: true,
            admins_moderate: true,
            new_rooms: KeptSettings::default(),
        }
    }
}
