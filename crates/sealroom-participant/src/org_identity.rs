//! The organisation key this client checks members' bindings against, pinned on first use, and
//! our own binding. The caller does the I/O: it fetches the key the server presents, keeps the
//! pin for that server, asks for our binding after signing in, and feeds the time in; the
//! roster of every epoch then names an account only where the pinned key vouches for the leaf.

use sealroom_e2ee::{OrgBinding, OrgKey};

use crate::{CommandError, Output, Participant};

impl Participant {
    /// The organisation key the server presents now, and the one pinned for this server
    /// (`None`: first contact). Trust on first use: a first key is trusted and handed back to
    /// be pinned ([`Output::PinOrganisationKey`]); a different key later is reported
    /// ([`Output::OrganisationKeyChanged`]) and never trusted silently — members stay checked
    /// against the pinned key, so bindings under the new one name no account. Call it before
    /// joining: the rosters of the epochs after it are checked.
    pub fn handle_organisation_key(&mut self, pinned: Option<OrgKey>, presented: OrgKey) {
        match pinned {
            None => self
                .outputs
                .push_back(Output::PinOrganisationKey(presented)),
            Some(pinned) if pinned != presented => self
                .outputs
                .push_back(Output::OrganisationKeyChanged { pinned, presented }),
            Some(_) => {}
        }
        self.org_trust.key = Some(pinned.unwrap_or(presented));
        self.apply_org_trust();
    }

    /// The time now by the caller's clock (Unix seconds), against which bindings expire.
    pub fn handle_time(&mut self, now_unix_secs: u64) {
        self.org_trust.now = now_unix_secs;
        self.apply_org_trust();
    }

    /// The organisation's binding of our device to our account, for our leaf: set it before
    /// the key package or group is made. One for another device key is refused.
    pub fn set_org_binding(&mut self, binding: OrgBinding) -> Result<(), CommandError> {
        Ok(self.device.set_org_binding(binding)?)
    }

    /// Hands what we trust to the group, whose roster checks bindings with it.
    pub(crate) fn apply_org_trust(&mut self) {
        if let Some(group) = self.group.as_mut() {
            group.set_org_trust(self.org_trust);
        }
    }

    /// The same device, binding and trust, for another group of ours (a breakout room).
    pub(crate) fn carry_org_identity(&self, other: &mut Participant) -> Result<(), CommandError> {
        other.org_trust = self.org_trust;
        if let Some(binding) = self.device.org_binding() {
            other.set_org_binding(binding.clone())?;
        }
        Ok(())
    }
}
