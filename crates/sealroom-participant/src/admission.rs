//! Whom a client adds to the group, and which additions it flags: the lobby rules.
//!
//! In a lobby room only a moderator's client adds members, and only devices its user admitted,
//! or moderators (who enter past the lobby: with the host link, or signed in when none was in
//! the meeting). Whether the room has a lobby and who moderates is still the server's word here
//! (`room_settings`, `participants`).

use std::collections::HashSet;

use sealroom_e2ee::{EpochChange, RosterMember, key_package_fingerprint};
use sealroom_protocol::{Bytes, ParticipantId, ParticipantInfo, Role};

/// What the lobby rules know: the server's settings and list, and what our user did.
#[derive(Default)]
pub(crate) struct Admission {
    /// The room has a lobby (the server's `room_settings`).
    pub(crate) lobby_room: bool,
    /// Who the server says is in the meeting, with roles and key fingerprints.
    pub(crate) participants: Vec<ParticipantInfo>,
    /// Who waits in the lobby (moderators only get this).
    pub(crate) waiting: Vec<ParticipantInfo>,
    /// Fingerprints of devices our user admitted from the lobby.
    admitted: HashSet<String>,
    /// Devices the server asked us to add that our user did not admit, warned about once each.
    refused: HashSet<String>,
}

/// Why a key package was left out of our commit, for the user.
pub(crate) enum Refusal {
    /// A device nobody admitted (the fingerprint); said once per device.
    NotAdmitted(String),
    /// Not a key package we can read.
    Unreadable(String),
}

impl Admission {
    /// Our user admits the participant waiting as `participant_id`: its device's fingerprint,
    /// once the server has shown it.
    pub(crate) fn admit(&mut self, participant_id: &ParticipantId) -> Option<String> {
        let fingerprint = self
            .waiting
            .iter()
            .find(|p| &p.id == participant_id)?
            .fingerprint
            .clone()?;
        self.admitted.insert(fingerprint.clone());
        Some(fingerprint)
    }

    /// The key packages the server asked us to commit that we may add, and the refusals to
    /// tell the user about.
    pub(crate) fn admissible<'a>(
        &mut self,
        key_packages: &'a [Bytes],
    ) -> (Vec<&'a [u8]>, Vec<Refusal>) {
        if !self.lobby_room {
            return (key_packages.iter().map(AsRef::as_ref).collect(), Vec::new());
        }
        let mut refusals = Vec::new();
        let admissible = key_packages
            .iter()
            .map(AsRef::as_ref)
            .filter(|key_package| match key_package_fingerprint(key_package) {
                Ok(fingerprint) => {
                    let fingerprint = fingerprint.to_string();
                    let may =
                        self.admitted.contains(&fingerprint) || self.is_moderator(&fingerprint);
                    if !may && self.refused.insert(fingerprint.clone()) {
                        refusals.push(Refusal::NotAdmitted(fingerprint));
                    }
                    may
                }
                Err(error) => {
                    refusals.push(Refusal::Unreadable(error.to_string()));
                    false
                }
            })
            .collect();
        (admissible, refusals)
    }

    /// In a lobby room, the members a commit added without a moderator's admission: anyone
    /// but a moderator, added by a committer who is not one.
    pub(crate) fn unadmitted<'a>(
        &self,
        change: &'a EpochChange,
        committer: Option<&RosterMember>,
    ) -> Vec<&'a RosterMember> {
        let by_moderator = committer.is_some_and(|c| self.is_moderator(&c.fingerprint.to_string()));
        if !self.lobby_room || by_moderator {
            return Vec::new();
        }
        change
            .added
            .iter()
            .filter(|m| !self.is_moderator(&m.fingerprint.to_string()))
            .collect()
    }

    /// Whether the server lists the participant with this device key as a moderator.
    fn is_moderator(&self, fingerprint: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.fingerprint.as_deref() == Some(fingerprint) && p.role == Role::Moderator)
    }
}
