//! The room's policy, kept in the group context where every member reads the same one: the room
//! link's key, whether joiners need a moderator's admission (the lobby), and who moderates.
//! Only a commit from a moderator the policy names may change it, and the MLS rules of every
//! member and of the delivery service check each Add against it — so who may join the encrypted
//! group never rests on what the server tells each client.

use mls_rs::{Extension, ExtensionList, identity::SigningIdentity};

use crate::{identity::Fingerprint, room_link::LinkKey};

pub use crate::room_link::ROOM_POLICY_EXTENSION;

/// The policy's encoding version, its first byte.
const POLICY_VERSION: u8 = 2;
/// Most moderators a policy names: bounds what a malformed policy can make a member parse.
const MAX_MODERATORS: usize = 1024;

/// What the group context says about who may join and who decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomPolicy {
    /// The room link's key: a joiner's key package proves the link under it.
    pub link_key: LinkKey,
    /// Joiners need a moderator's admission even with the link.
    pub lobby: bool,
    /// Fingerprints of the device keys that moderate: they admit joiners, change this policy,
    /// and any member may add them back when they return with the same key.
    pub moderators: Vec<Fingerprint>,
}

impl RoomPolicy {
    /// The policy of a group its founder creates from a room link: the founder moderates.
    pub fn founded(link_key: LinkKey, founder: Fingerprint) -> Self {
        Self {
            link_key,
            lobby: false,
            moderators: vec![founder],
        }
    }

    /// Whether the device with this fingerprint moderates.
    pub fn is_moderator(&self, fingerprint: &Fingerprint) -> bool {
        self.moderators.contains(fingerprint)
    }

    /// Whether a commit by `committer` may add the device of `joiner`, whose key package
    /// carries `key_package_extensions`: a moderator adds whom its user admitted; anyone adds a
    /// returning moderator, or, with no lobby, a device that proves it holds the room link.
    pub(crate) fn allows_add(
        &self,
        committer: &Fingerprint,
        joiner: &SigningIdentity,
        key_package_extensions: &ExtensionList,
    ) -> bool {
        self.is_moderator(committer)
            || self.is_moderator(&Fingerprint::of_signing_identity(joiner))
            || (!self.lobby
                && self
                    .link_key
                    .proven_by(&joiner.signature_key, key_package_extensions))
    }

    /// The group context extension carrying this policy.
    pub fn extension(&self) -> Extension {
        let mut data = vec![POLICY_VERSION];
        data.extend_from_slice(self.link_key.as_bytes());
        data.push(u8::from(self.lobby));
        for moderator in &self.moderators {
            data.extend_from_slice(&moderator.0);
        }
        Extension::new(ROOM_POLICY_EXTENSION, data)
    }

    /// The policy a group context's extensions carry, if they carry a well-formed one.
    pub fn from_context(extensions: &ExtensionList) -> Option<Self> {
        Self::decode(&extensions.get(ROOM_POLICY_EXTENSION)?.extension_data)
    }

    fn decode(data: &[u8]) -> Option<Self> {
        let (&version, rest) = data.split_first()?;
        let (key, rest) = rest.split_first_chunk::<32>()?;
        let link_key = LinkKey::from_bytes(key)?;
        let (&lobby, moderators) = rest.split_first()?;
        let well_formed = version == POLICY_VERSION
            && lobby <= 1
            && moderators.len() % 32 == 0
            && moderators.len() / 32 <= MAX_MODERATORS;
        well_formed.then(|| Self {
            link_key,
            lobby: lobby == 1,
            moderators: moderators
                .chunks_exact(32)
                .map(|m| Fingerprint(m.try_into().unwrap_or_else(|_| unreachable!())))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room_link::LinkSecret;

    fn policy() -> RoomPolicy {
        let mut policy = RoomPolicy::founded(
            LinkSecret::generate().unwrap().link_key(),
            Fingerprint([7; 32]),
        );
        policy.lobby = true;
        policy.moderators.push(Fingerprint([9; 32]));
        policy
    }

    #[test]
    fn a_policy_reads_back_from_the_group_context() {
        let policy = policy();
        let mut context = ExtensionList::new();
        context.set(policy.extension());
        assert_eq!(RoomPolicy::from_context(&context), Some(policy));
        assert_eq!(RoomPolicy::from_context(&ExtensionList::new()), None);
    }

    #[test]
    fn a_malformed_policy_is_no_policy() {
        let data = policy().extension().extension_data;
        let mut bad_lobby = data.clone();
        bad_lobby[33] = 2;
        let mut bad_version = data.clone();
        bad_version[0] = 3;
        for bad in [
            &data[..data.len() - 1],
            &data[..20],
            &bad_lobby[..],
            &bad_version[..],
            &[][..],
        ] {
            assert_eq!(RoomPolicy::decode(bad), None, "{bad:?}");
        }
    }
}
