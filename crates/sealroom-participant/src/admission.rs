//! Whom a client adds to the group, and which additions it flags: the lobby rules.
//!
//! In a lobby room only a moderator's client adds members, and only devices its user admitted,
//! or moderators (who enter past the lobby: with the host link, or signed in when none was in
//! the meeting). In the group of a room link (its context names the link's key), a client adds
//! only devices whose key package proves they hold the link, or moderators. Whether the room has
//! a lobby and who moderates is still the server's word here (`room_settings`, `participants`);
//! the link is not: the server never sees its secret.

use std::collections::HashSet;

use sealroom_e2ee::{
    EpochChange, GroupError, LinkKey, RosterMember, key_package_fingerprint,
    key_package_proves_link,
};
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
    /// A device without the room link's proof (the fingerprint); said once per device.
    NoLinkProof(String),
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
    /// tell the user about. `link` is the link key of our group, if it is a room link's.
    pub(crate) fn admissible<'a>(
        &mut self,
        key_packages: &'a [Bytes],
        link: Option<&LinkKey>,
    ) -> (Vec<&'a [u8]>, Vec<Refusal>) {
        let mut refusals = Vec::new();
        let admissible = key_packages
            .iter()
            .map(AsRef::as_ref)
            .filter(|key_package| match self.refusal(key_package, link) {
                Ok(None) => true,
                Ok(Some((fingerprint, refusal))) => {
                    // Said once per device: the server asks again and again.
                    if self.refused.insert(fingerprint) {
                        refusals.push(refusal);
                    }
                    false
                }
                Err(error) => {
                    refusals.push(Refusal::Unreadable(error.to_string()));
                    false
                }
            })
            .collect();
        (admissible, refusals)
    }

    /// `None` if we may add the key package's device; else its fingerprint and why not.
    fn refusal(
        &self,
        key_package: &[u8],
        link: Option<&LinkKey>,
    ) -> Result<Option<(String, Refusal)>, GroupError> {
        let fingerprint = key_package_fingerprint(key_package)?.to_string();
        let moderator = self.is_moderator(&fingerprint);
        let refusal = if self.lobby_room {
            let may = moderator || self.admitted.contains(&fingerprint);
            (!may).then(|| Refusal::NotAdmitted(fingerprint.clone()))
        } else if let Some(link) = link {
            let may = moderator || key_package_proves_link(key_package, link)?;
            (!may).then(|| Refusal::NoLinkProof(fingerprint.clone()))
        } else {
            None
        };
        Ok(refusal.map(|refusal| (fingerprint, refusal)))
    }

    /// The members a commit added without the evidence the room asks for, by a committer who
    /// is not a moderator: in a lobby room, anyone but a moderator; in a room link's group
    /// (`link_room`), anyone but a moderator whose key package did not prove the link.
    pub(crate) fn unadmitted<'a>(
        &self,
        change: &'a EpochChange,
        committer: Option<&RosterMember>,
        link_room: bool,
    ) -> Vec<&'a RosterMember> {
        let by_moderator = committer.is_some_and(|c| self.is_moderator(&c.fingerprint.to_string()));
        if by_moderator || !(self.lobby_room || link_room) {
            return Vec::new();
        }
        let proved_link = |m: &RosterMember| !self.lobby_room && change.added_with_link.contains(m);
        change
            .added
            .iter()
            .filter(|m| !self.is_moderator(&m.fingerprint.to_string()) && !proved_link(m))
            .collect()
    }

    /// Whether the server lists the participant with this device key as a moderator.
    fn is_moderator(&self, fingerprint: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.fingerprint.as_deref() == Some(fingerprint) && p.role == Role::Moderator)
    }
}
