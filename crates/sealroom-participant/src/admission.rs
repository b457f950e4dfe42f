//! Whom a client adds to the group: the lobby rules.
//!
//! The room policy in the group context decides, as every member's MLS rules do
//! (`sealroom_e2ee::RoomPolicy`): a moderator it names adds the devices its user admitted;
//! anyone adds a returning moderator, or, with no lobby, a device whose key package proves it
//! holds the room link. None of it is the server's word, and a commit that breaks the policy is
//! refused by every member. What the server says (who is in the meeting, who waits in the lobby)
//! only names the devices our user admits, and the members a moderator's client names
//! moderators.

use std::collections::HashSet;

use sealroom_e2ee::{
    Fingerprint, GroupError, RoomPolicy, key_package_fingerprint, key_package_proves_link,
};
use sealroom_protocol::{Bytes, ParticipantId, ParticipantInfo, Role};

/// What the lobby rules know: the server's settings and list, and what our user did.
#[derive(Default)]
pub(crate) struct Admission {
    /// Who the server says is in the meeting, with roles and key fingerprints.
    pub(crate) participants: Vec<ParticipantInfo>,
    /// Who waits in the lobby (moderators only get this).
    pub(crate) waiting: Vec<ParticipantInfo>,
    /// Fingerprints of devices our user admitted from the lobby.
    admitted: HashSet<String>,
    /// Devices the server asked us to add that we may not, warned about once each.
    refused: HashSet<String>,
}

/// Why a key package was left out of our commit, for the user.
pub(crate) enum Refusal {
    /// A device our user did not admit, in a room with a lobby (the fingerprint); said once
    /// per device.
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
    /// tell the user about. `group` is what our group's context says.
    pub(crate) fn admissible<'a>(
        &mut self,
        key_packages: &'a [Bytes],
        group: GroupPolicy<'_>,
    ) -> (Vec<&'a [u8]>, Vec<Refusal>) {
        let mut refusals = Vec::new();
        let admissible = key_packages
            .iter()
            .map(AsRef::as_ref)
            .filter(|key_package| match self.refusal(key_package, group) {
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
        group: GroupPolicy<'_>,
    ) -> Result<Option<(String, Refusal)>, GroupError> {
        let fingerprint = key_package_fingerprint(key_package)?;
        if self.policy_allows(key_package, &fingerprint, group)? {
            return Ok(None);
        }
        let fingerprint = fingerprint.to_string();
        let refusal = match group.policy.lobby {
            true => Refusal::NotAdmitted(fingerprint.clone()),
            false => Refusal::NoLinkProof(fingerprint.clone()),
        };
        Ok(Some((fingerprint, refusal)))
    }

    /// Whether the room policy lets our commit add the key package's device: what every
    /// member's MLS rules check, with "admitted" meaning admitted by our user.
    fn policy_allows(
        &self,
        key_package: &[u8],
        fingerprint: &Fingerprint,
        group: GroupPolicy<'_>,
    ) -> Result<bool, GroupError> {
        let policy = group.policy;
        let we_admitted =
            policy.is_moderator(group.own) && self.admitted.contains(&fingerprint.to_string());
        Ok(we_admitted
            || policy.is_moderator(fingerprint)
            || (!policy.lobby && key_package_proves_link(key_package, &policy.link_key)?))
    }

    /// Whether the server lists the participant with this device key as a moderator.
    pub(crate) fn is_listed_moderator(&self, fingerprint: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.fingerprint.as_deref() == Some(fingerprint) && p.role == Role::Moderator)
    }
}

/// A room link's group as the admission rules see it: its policy, and our device key.
#[derive(Clone, Copy)]
pub(crate) struct GroupPolicy<'a> {
    pub(crate) policy: &'a RoomPolicy,
    pub(crate) own: &'a Fingerprint,
}
