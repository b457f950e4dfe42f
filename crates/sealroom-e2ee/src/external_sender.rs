//! The delivery service's side of MLS: it follows a group's public state (commits are MLS
//! PublicMessages) without any group secret, checks that a commit is valid for the epoch before
//! it sequences it, and — as the group's external sender — proposes the removal of a participant
//! whose connection died. It can never commit, so it can never change the keys.

use mls_rs::{
    MlsMessage, WireFormat,
    external_client::{
        ExternalClient, ExternalGroup, ExternalReceivedMessage,
        builder::{
            ExternalBaseConfig, ExternalClientBuilder, IntoConfigOutput, WithCryptoProvider,
            WithIdentityProvider, WithMlsRules,
        },
    },
};

use crate::{
    group::{
        ExternalSenderKey, GroupError, RoomRules, RosterMember, application_authenticated_data,
        decode_message, encode_signing_identity, ensure_sole_external_sender,
    },
    identity::{DeviceIdentity, DeviceIdentityProvider, Fingerprint, credential_name},
    org_binding::OrgTrust,
    suite::SealroomCryptoProvider,
};

type ObserverConfig = IntoConfigOutput<
    WithMlsRules<
        RoomRules,
        WithIdentityProvider<
            DeviceIdentityProvider,
            WithCryptoProvider<SealroomCryptoProvider, ExternalBaseConfig>,
        >,
    >,
>;

/// The delivery service's signing identity as the groups' external sender.
pub struct ExternalSender {
    identity: DeviceIdentity,
    client: ExternalClient<ObserverConfig>,
}

impl ExternalSender {
    /// An external sender signing with `identity`.
    pub fn new(identity: DeviceIdentity) -> Self {
        let client = ExternalClientBuilder::new()
            .crypto_provider(SealroomCryptoProvider)
            .identity_provider(DeviceIdentityProvider)
            // The clients' own rules: a commit they would refuse is refused before it is
            // sequenced, so the delivery service never moves to an epoch the group will not.
            .mls_rules(RoomRules)
            .signer(identity.secret.clone(), identity.signing_identity.clone())
            .build();
        Self { identity, client }
    }

    /// The key group creators list in their groups' external-senders extension.
    pub fn key(&self) -> Result<ExternalSenderKey, GroupError> {
        Ok(ExternalSenderKey(encode_signing_identity(
            &self.identity.signing_identity,
        )?))
    }

    /// Checks a key package a joiner uploaded (signature, cipher suite, lifetime) and says whose
    /// it is, so the delivery service can tell which participant a later commit added.
    pub fn validate_key_package(&self, key_package: &[u8]) -> Result<KeyPackageOwner, GroupError> {
        let key_package = self
            .client
            .validate_key_package(decode_message(key_package)?, None)?;
        let identity = key_package.signing_identity();
        Ok(KeyPackageOwner {
            credential_name: credential_name(identity),
            fingerprint: Fingerprint::of_signing_identity(identity),
        })
    }

    /// Starts following a group from a group info a member uploaded (with the ratchet tree).
    /// The group must list this sender, and it alone, as its external sender, or the service
    /// could never propose removing a member who left ([`GroupError::ExternalSenderMismatch`]);
    /// Sealroom's rules then refuse any commit that changes that list.
    pub fn observe(&self, group_info: &[u8]) -> Result<ObservedGroup, GroupError> {
        let group_info = decode_message(group_info)?;
        let group = self.client.observe_group(group_info, None, None)?;
        ensure_sole_external_sender(
            &group.group_context().extensions,
            &self.identity.signing_identity,
        )?;
        Ok(ObservedGroup { group })
    }
}

/// Whose key package it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPackageOwner {
    /// The credential name inside.
    pub credential_name: String,
    /// Fingerprint of the signature key inside; the same key shows in the roster once added.
    pub fingerprint: Fingerprint,
}

/// What the delivery service learned from a message it checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObservedMessage {
    /// A valid commit; the observed group moved to `epoch`.
    Commit {
        /// The new epoch.
        epoch: u64,
    },
    /// A valid proposal.
    Proposal,
    /// An encrypted application message the service cannot read (it only relays it), with
    /// the authenticated data its sender bound to it in the clear (what kind of message it
    /// is, so that the service can apply the room's permissions).
    Application {
        /// The MLS `authenticated_data`: clear, but authenticated at every receiver.
        authenticated_data: Vec<u8>,
    },
}

/// The public state of one group as the delivery service sees it. Cloning it is how the
/// service tries a commit before it commits to it.
#[derive(Clone)]
pub struct ObservedGroup {
    group: ExternalGroup<ObserverConfig>,
}

impl ObservedGroup {
    /// The group's current epoch.
    pub fn epoch(&self) -> u64 {
        self.group.group_context().epoch
    }

    /// The group's id.
    pub fn group_id(&self) -> &[u8] {
        &self.group.group_context().group_id
    }

    /// The members, from the public ratchet tree.
    pub fn roster(&self) -> Vec<RosterMember> {
        self.group
            .roster()
            .members_iter()
            // The delivery service pins no organisation key: it names no member's account.
            .map(|m| RosterMember::from_mls(&m, &OrgTrust::default()))
            .collect()
    }

    /// The clear authenticated data of an application message (a PrivateMessage of this
    /// group), without touching the observed state: anything else — a commit sent as an
    /// application message, in the clear or encrypted — is refused, not applied.
    pub fn application_data(&self, bytes: &[u8]) -> Result<Vec<u8>, GroupError> {
        let message = decode_message(bytes)?;
        if message.group_id() != Some(self.group_id()) {
            return Err(GroupError::WrongGroup);
        }
        if message.wire_format() != WireFormat::PrivateMessage {
            return Err(GroupError::Malformed("not an application message".into()));
        }
        application_authenticated_data(bytes)
    }

    /// Checks a message a member sent and, if it is a valid commit for the current epoch,
    /// applies it to the observed state. An invalid message leaves the state unchanged.
    pub fn process(&mut self, bytes: &[u8]) -> Result<ObservedMessage, GroupError> {
        let message = decode_message(bytes)?;
        if message.group_id() != Some(self.group_id()) {
            return Err(GroupError::WrongGroup);
        }
        if message.wire_format() == WireFormat::PrivateMessage {
            return Ok(ObservedMessage::Application {
                authenticated_data: application_authenticated_data(bytes)?,
            });
        }
        if let Some(message_epoch) = message.epoch() {
            let group_epoch = self.epoch();
            if message_epoch != group_epoch {
                return Err(GroupError::WrongEpoch {
                    message_epoch,
                    group_epoch,
                });
            }
        }
        match self.group.process_incoming_message(message)? {
            ExternalReceivedMessage::Commit(_) => Ok(ObservedMessage::Commit {
                epoch: self.epoch(),
            }),
            ExternalReceivedMessage::Proposal(_) => Ok(ObservedMessage::Proposal),
            _ => Err(GroupError::Malformed(
                "not a commit, proposal or application message".into(),
            )),
        }
    }

    /// Proposes, as external sender, to remove the member at `leaf_index` (their connection
    /// died or they left). A member's next commit carries it out.
    pub fn propose_remove(&mut self, leaf_index: u32) -> Result<Vec<u8>, GroupError> {
        let message: MlsMessage = self.group.propose_remove(leaf_index, Vec::new())?;
        Ok(message.to_bytes()?)
    }

    /// Proposes adding a member. Sealroom's clients refuse such a proposal from an external
    /// sender; this exists so tests can play a server that tries to slip in a ghost.
    pub fn propose_add(&mut self, key_package: &[u8]) -> Result<Vec<u8>, GroupError> {
        let message = self
            .group
            .propose_add(decode_message(key_package)?, Vec::new())?;
        Ok(message.to_bytes()?)
    }
}
