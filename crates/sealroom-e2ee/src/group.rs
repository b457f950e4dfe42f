//! The MLS (RFC 9420) group session of one participant, on mls-rs: key packages, creating and
//! joining a group, committing adds, removes and self-updates, processing what the delivery
//! service relays, and the secrets the rest of the crate derives from an epoch.

mod rules;

use std::sync::Arc;

use mls_rs::{
    CipherSuite, Client, ExtensionList, MlsMessage, MlsMessageDescription, WireFormat,
    client_builder::{
        BaseConfig, IntoConfigOutput, WithCryptoProvider, WithIdentityProvider, WithMlsRules,
    },
    error::MlsError,
    extension::built_in::ExternalSendersExt,
    group::{CommitEffect, ContentType, ReceivedMessage, proposal::Proposal},
    identity::SigningIdentity,
    mls_rs_codec::{MlsDecode, MlsEncode},
};
use zeroize::Zeroizing;

pub(crate) use rules::RoomRules;
pub use rules::RuleViolation;

use crate::{
    identity::{DeviceIdentity, DeviceIdentityProvider, Fingerprint, credential_name},
    org_binding::{ORG_BINDING_EXTENSION, OrgBinding, OrgIdentity, OrgTrust},
    private_message::{self, PRIVATE_KEY_EXTENSION, PrivateMessageKey},
    room_link::{LinkKey, LinkSecret},
    room_policy::{ROOM_POLICY_EXTENSION, RoomPolicy},
    security_code::SecurityCode,
    sframe,
    suite::{MlsSuite, SealroomCryptoProvider},
};

/// MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (0x0001), Sealroom's default cipher suite; the
/// others are in [`MlsSuite`].
pub const CIPHER_SUITE: CipherSuite = MlsSuite::Curve25519Aes128.cipher_suite();

/// Largest MLS message a session will parse, in bytes. A Welcome for a 1,000-member group with the
/// ratchet tree inside stays well below this.
pub const MAX_MLS_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Why an MLS operation failed. Everything a peer or the server can send maps to a variant here;
/// nothing a peer sends can make the session panic.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// The bytes are not a well-formed MLS message of the expected kind.
    #[error("malformed MLS message: {0}")]
    Malformed(String),
    /// The message is larger than [`MAX_MLS_MESSAGE_BYTES`].
    #[error("MLS message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The message was for another epoch than the group's current one.
    #[error("message for epoch {message_epoch}, group is at epoch {group_epoch}")]
    WrongEpoch {
        /// Epoch the message names.
        message_epoch: u64,
        /// Epoch the group is at.
        group_epoch: u64,
    },
    /// The message was for another group.
    #[error("message for another group")]
    WrongGroup,
    /// The message failed MLS validation (signature, membership tag, confirmation, tree, or
    /// Sealroom's rules); the text says which.
    #[error("MLS validation failed: {0}")]
    Rejected(String),
    /// A commit or proposal sent encrypted (an MLS PrivateMessage): the delivery service
    /// cannot check or order it, so it is refused unopened. Sealroom sends handshake messages
    /// as PublicMessages only.
    #[error("commit or proposal sent encrypted; handshake messages must be public")]
    EncryptedHandshake,
    /// The group does not list exactly the expected key as its one external sender (the
    /// delivery service), so that service could not propose removing a departed member.
    #[error("the group does not list exactly the expected external sender")]
    ExternalSenderMismatch,
    /// A room link's secret is not 128 bits of base64url.
    #[error("a room link's secret is 22 characters of base64url")]
    InvalidLinkSecret,
    /// The message is not what the delivery service relayed it as (a commit relayed as an
    /// application message or as a proposal): refused before it touches the group.
    #[error("message relayed as a {relayed:?} is not one")]
    NotAsRelayed {
        /// What it was relayed as.
        relayed: Relayed,
    },
    /// A commit or proposal names a member that is not in the group.
    #[error("no member at leaf index {0}")]
    NoSuchMember(u32),
    /// A proposal of this epoch awaits its commit, and MLS sends no application message
    /// before it (RFC 9420, section 12.2): send again once the next epoch begins.
    #[error("a proposal awaits its commit")]
    CommitRequired,
    /// A commit of ours awaits the delivery service's answer; merge or discard it first.
    #[error("a commit of ours is still pending")]
    CommitPending,
    /// There is no pending commit to merge or discard.
    #[error("no commit is pending")]
    NoPendingCommit,
    /// This member was removed from the group; the session has no further keys.
    #[error("removed from the group")]
    Removed,
    /// Credential names must be 1 to 256 bytes.
    #[error("credential name must be 1 to 256 bytes")]
    InvalidCredentialName,
    /// A stored secret key could not be loaded.
    #[error("invalid signature secret key")]
    InvalidSecretKey,
    /// The cryptographic provider failed.
    #[error("crypto provider: {0}")]
    Crypto(String),
    /// A private message could not be sealed to that member, or did not open.
    #[error("private message: {0}")]
    PrivateMessage(&'static str),
    /// An organisation binding names another device's key, or is not one.
    #[error("the organisation binding is not for this device")]
    OrgBindingMismatch,
}

impl GroupError {
    /// A stable snake_case code per kind, for protocols and the browser. Exhaustive on purpose:
    /// a new variant must get a code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::TooLarge(_) => "too_large",
            Self::WrongEpoch { .. } => "wrong_epoch",
            Self::WrongGroup => "wrong_group",
            Self::Rejected(_) => "rejected",
            Self::CommitRequired => "commit_required",
            Self::EncryptedHandshake => "encrypted_handshake",
            Self::ExternalSenderMismatch => "external_sender_mismatch",
            Self::NotAsRelayed { .. } => "not_as_relayed",
            Self::InvalidLinkSecret => "invalid_link_secret",
            Self::NoSuchMember(_) => "no_such_member",
            Self::CommitPending => "commit_pending",
            Self::NoPendingCommit => "no_pending_commit",
            Self::Removed => "removed",
            Self::InvalidCredentialName => "invalid_credential_name",
            Self::InvalidSecretKey => "invalid_secret_key",
            Self::Crypto(_) => "crypto",
            Self::PrivateMessage(_) => "private_message",
            Self::OrgBindingMismatch => "org_binding_mismatch",
        }
    }
}

impl From<MlsError> for GroupError {
    fn from(error: MlsError) -> Self {
        match error {
            MlsError::InvalidEpoch => GroupError::Rejected("invalid epoch".into()),
            MlsError::GroupIdMismatch => GroupError::WrongGroup,
            MlsError::CommitRequired => GroupError::CommitRequired,
            MlsError::InvalidNodeIndex(i) => GroupError::NoSuchMember(i / 2),
            MlsError::SerializationError(e) => GroupError::Malformed(e.to_string()),
            MlsError::UnexpectedMessageType => GroupError::Malformed(error.to_string()),
            other => GroupError::Rejected(other.to_string()),
        }
    }
}

type ClientConfig = IntoConfigOutput<
    WithMlsRules<
        RoomRules,
        WithIdentityProvider<
            DeviceIdentityProvider,
            WithCryptoProvider<SealroomCryptoProvider, BaseConfig>,
        >,
    >,
>;

/// The identity of the delivery service as an MLS external sender: a serialized MLS
/// `SigningIdentity` the server publishes and the group's creator writes into the group context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalSenderKey(pub Vec<u8>);

impl ExternalSenderKey {
    pub(crate) fn to_signing_identity(&self) -> Result<SigningIdentity, GroupError> {
        SigningIdentity::mls_decode(&mut self.0.as_slice())
            .map_err(|e| GroupError::Malformed(e.to_string()))
    }
}

/// A client device able to make key packages and to create or join groups. Key packages it makes
/// keep their private keys inside it, so the Welcome must be processed by the same `Device`.
pub struct Device {
    identity: DeviceIdentity,
    client: Client<ClientConfig>,
    /// `None` if the random generator failed; every group operation then fails.
    private_key: Option<Arc<PrivateMessageKey>>,
    /// The organisation's binding of this device to its account, for its leaf.
    org_binding: Option<OrgBinding>,
}

impl Device {
    /// A device signing with `identity`, making key packages and groups of its suite.
    pub fn new(identity: DeviceIdentity) -> Self {
        let client = Client::builder()
            .crypto_provider(SealroomCryptoProvider)
            .identity_provider(DeviceIdentityProvider)
            .mls_rules(RoomRules)
            // Every member must support the room policy for a group to carry it.
            .extension_type(ROOM_POLICY_EXTENSION)
            // A leaf may carry only the extensions its capabilities list.
            .extension_type(PRIVATE_KEY_EXTENSION)
            .extension_type(ORG_BINDING_EXTENSION)
            .signing_identity(
                identity.signing_identity.clone(),
                identity.secret.clone(),
                identity.suite().cipher_suite(),
            )
            .build();
        let private_key = PrivateMessageKey::generate().ok().map(Arc::new);
        Self {
            identity,
            client,
            private_key,
            org_binding: None,
        }
    }

    /// Puts the organisation's binding of this device to its account in every leaf the device
    /// makes from now on (key packages, groups it creates). A binding for another device key
    /// is refused: every member would refuse it anyway.
    pub fn set_org_binding(&mut self, binding: OrgBinding) -> Result<(), GroupError> {
        if binding.device_key != self.identity.public_key() {
            return Err(GroupError::OrgBindingMismatch);
        }
        self.org_binding = Some(binding);
        Ok(())
    }

    /// The organisation binding this device's leaves carry, if any.
    pub fn org_binding(&self) -> Option<&OrgBinding> {
        self.org_binding.as_ref()
    }

    /// The leaf node extensions of this device: its private-message key, and its organisation
    /// binding if it has one.
    fn leaf_extensions(&self) -> Result<ExtensionList, GroupError> {
        let mut extensions = self.private_key()?.leaf_extensions();
        if let Some(binding) = &self.org_binding {
            extensions.set(binding.extension());
        }
        Ok(extensions)
    }

    /// The device's private-message key, shared by every key package and group it makes.
    fn private_key(&self) -> Result<&Arc<PrivateMessageKey>, GroupError> {
        self.private_key
            .as_ref()
            .ok_or(GroupError::Crypto("no private-message key".into()))
    }

    /// The device's identity.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    /// A fresh single-use key package (a serialized MLS message) to upload to the delivery
    /// service, so a member can add this device.
    pub fn key_package(&self) -> Result<Vec<u8>, GroupError> {
        self.key_package_with(ExtensionList::new())
    }

    /// A key package carrying the proof that this device holds the room link: a member of the
    /// link's group adds it without a moderator's admission.
    pub fn key_package_with_link(&self, link: &LinkSecret) -> Result<Vec<u8>, GroupError> {
        let signature_key = &self.identity.signing_identity.signature_key;
        self.key_package_with(link.proof_extensions(signature_key))
    }

    fn key_package_with(&self, extensions: ExtensionList) -> Result<Vec<u8>, GroupError> {
        let leaf_extensions = self.leaf_extensions()?;
        let message =
            self.client
                .generate_key_package_message(extensions, leaf_extensions, None)?;
        Ok(message.to_bytes()?)
    }

    /// Creates a new group with this device as its only member. `external_senders` are allowed
    /// to propose removals (the delivery service); they can never commit.
    pub fn create_group(
        &self,
        external_senders: &[ExternalSenderKey],
    ) -> Result<GroupSession, GroupError> {
        self.create_group_with(external_senders, ExtensionList::new())
    }

    /// Creates the group of a room link under `policy`: its context names the link's key, the
    /// lobby and the moderators, which only a moderator's commit can change, so every member
    /// can tell a joiner who held the link or was admitted from one who was not.
    pub fn create_group_with_policy(
        &self,
        external_senders: &[ExternalSenderKey],
        policy: &RoomPolicy,
    ) -> Result<GroupSession, GroupError> {
        let mut extensions = ExtensionList::new();
        extensions.set(policy.extension());
        self.create_group_with(external_senders, extensions)
    }

    fn create_group_with(
        &self,
        external_senders: &[ExternalSenderKey],
        mut extensions: ExtensionList,
    ) -> Result<GroupSession, GroupError> {
        if !external_senders.is_empty() {
            let senders = external_senders
                .iter()
                .map(ExternalSenderKey::to_signing_identity)
                .collect::<Result<Vec<_>, _>>()?;
            extensions
                .set_from(ExternalSendersExt::new(senders))
                .map_err(MlsError::from)?;
        }
        let private_key = self.private_key()?;
        let group = self
            .client
            .create_group(extensions, self.leaf_extensions()?, None)?;
        Ok(GroupSession::new(
            group,
            private_key.clone(),
            self.identity.suite(),
        ))
    }

    /// Joins a group from a Welcome addressed to one of this device's key packages.
    pub fn join_group(&self, welcome: &[u8]) -> Result<GroupSession, GroupError> {
        let private_key = self.private_key()?.clone();
        let welcome = decode_message(welcome)?;
        let (group, _info) = self.client.join_group(None, &welcome, None)?;
        // mls-rs refuses a Welcome of another suite than the key package it answers.
        Ok(GroupSession::new(group, private_key, self.identity.suite()))
    }
}

/// One member of the group as the MLS ratchet tree says: the roster clients show, whatever the
/// server claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterMember {
    /// The member's leaf index: stable while they stay, and their SFrame sender index.
    pub leaf_index: u32,
    /// The credential name the member joined with.
    pub credential_name: String,
    /// Fingerprint of the member's signature key.
    pub fingerprint: Fingerprint,
    /// The account the organisation vouches for in the member's leaf, checked against `trust`:
    /// the only account a UI may show for the member.
    pub org_identity: OrgIdentity,
}

impl RosterMember {
    pub(crate) fn from_mls(member: &mls_rs::group::Member, trust: &OrgTrust) -> Self {
        let signature_key = member.signing_identity.signature_key.as_bytes();
        Self {
            leaf_index: member.index,
            credential_name: credential_name(&member.signing_identity),
            fingerprint: Fingerprint::of_signing_identity(&member.signing_identity),
            org_identity: trust.identity_of(signature_key, &member.extensions),
        }
    }
}

/// A commit to send to the delivery service, and the Welcome for the members it adds.
#[derive(Clone, Debug)]
pub struct OutgoingCommit {
    /// The serialized commit, for the other members.
    pub commit: Vec<u8>,
    /// The Welcome, when the commit adds members.
    pub welcome: Option<Vec<u8>>,
    /// The epoch the commit was made in; the delivery service accepts one commit per epoch.
    pub epoch: u64,
}

/// How the group changed when a commit (ours or someone else's) was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochChange {
    /// The new epoch.
    pub epoch: u64,
    /// Leaf index of the member who committed.
    pub committer: u32,
    /// Members that joined.
    pub added: Vec<RosterMember>,
    /// Members that left or were removed.
    pub removed: Vec<RosterMember>,
    /// True when this commit removed us: the session is over.
    pub removed_us: bool,
}

/// Who sent a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalSender {
    /// A member, by leaf index.
    Member(u32),
    /// An external sender (the delivery service), by its index in the group's list.
    ExternalSender(u32),
    /// Someone outside asking to join by themselves (refused by Sealroom's rules).
    NewMember,
}

/// What a proposal asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposedChange {
    /// Add the member described by a key package (its credential name).
    Add {
        /// Credential name in the key package.
        credential_name: String,
    },
    /// Remove the member at a leaf index.
    Remove {
        /// The leaf to remove.
        leaf_index: u32,
    },
    /// Anything else (update, PSK, extensions...).
    Other,
}

/// What the delivery service relays a message as; it must be exactly that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relayed {
    /// A commit it sequenced (a PublicMessage).
    Commit,
    /// A proposal (a PublicMessage; the server's removals).
    Proposal,
    /// An application message (a PrivateMessage).
    Application,
}

impl Relayed {
    /// Whether a message of this wire format and content type is what it was relayed as.
    fn matches(self, description: &MlsMessageDescription<'_>) -> bool {
        match (self, description) {
            (
                Relayed::Commit,
                MlsMessageDescription::PublicProtocolMessage { content_type, .. },
            ) => *content_type == ContentType::Commit,
            (
                Relayed::Proposal,
                MlsMessageDescription::PublicProtocolMessage { content_type, .. },
            ) => *content_type == ContentType::Proposal,
            (
                Relayed::Application,
                MlsMessageDescription::PrivateProtocolMessage { content_type, .. },
            ) => *content_type == ContentType::Application,
            _ => false,
        }
    }
}

/// What processing a message from the delivery service produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A commit moved the group to a new epoch.
    Commit(EpochChange),
    /// A proposal was stored; a member's next commit will include it if the rules allow.
    Proposal {
        /// Who proposed.
        sender: ProposalSender,
        /// What they proposed.
        change: ProposedChange,
    },
    /// An application message (chat, file key...) from a member.
    Application {
        /// Sender's leaf index.
        sender: u32,
        /// The decrypted bytes.
        data: Vec<u8>,
        /// What the sender bound to it in the clear (its kind), authenticated by MLS.
        authenticated_data: Vec<u8>,
    },
}

/// One participant's view of a group.
pub struct GroupSession {
    group: mls_rs::Group<ClientConfig>,
    removed: bool,
    private_key: Arc<PrivateMessageKey>,
    /// The epoch we entered the group at: we never had keys for an earlier one.
    first_epoch: u64,
    /// What the roster checks members' organisation bindings against.
    org_trust: OrgTrust,
    suite: MlsSuite,
}

impl GroupSession {
    fn new(
        group: mls_rs::Group<ClientConfig>,
        private_key: Arc<PrivateMessageKey>,
        suite: MlsSuite,
    ) -> Self {
        Self {
            first_epoch: group.current_epoch(),
            group,
            removed: false,
            private_key,
            org_trust: OrgTrust::default(),
            suite,
        }
    }

    /// The group's MLS suite; its media is protected under `suite().sframe_suite()`.
    pub fn suite(&self) -> MlsSuite {
        self.suite
    }

    /// The organisation key and time the roster checks members' bindings against from now on.
    pub fn set_org_trust(&mut self, trust: OrgTrust) {
        self.org_trust = trust;
    }

    /// The kind label (authenticated data) of an application message of this group sent in an
    /// epoch before we entered it, which we cannot decrypt: it was in flight as we joined.
    /// `None` for any other message.
    pub fn label_of_message_before_us(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let message = decode_message(bytes).ok()?;
        let before_us = message.group_id() == Some(self.group.group_id())
            && message
                .epoch()
                .is_some_and(|epoch| epoch < self.first_epoch);
        before_us
            .then(|| application_authenticated_data(bytes).ok())
            .flatten()
    }

    /// The group's id (random, chosen by its creator).
    pub fn group_id(&self) -> &[u8] {
        self.group.group_id()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.group.current_epoch()
    }

    /// Our own leaf index.
    pub fn own_leaf_index(&self) -> u32 {
        self.group.current_member_index()
    }

    /// Whether a commit removed us.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// The members, in leaf order.
    pub fn roster(&self) -> Vec<RosterMember> {
        self.group
            .roster()
            .members_iter()
            .map(|m| RosterMember::from_mls(&m, &self.org_trust))
            .collect()
    }

    /// Fails with [`GroupError::ExternalSenderMismatch`] unless the group lists exactly
    /// `expected` (the delivery service's key) as its one external sender: without it the
    /// service cannot propose removing a member who left, and another key listed could propose
    /// too. Check after joining and after every commit.
    pub fn check_external_sender(&self, expected: &ExternalSenderKey) -> Result<(), GroupError> {
        ensure_sole_external_sender(
            &self.group.context().extensions,
            &expected.to_signing_identity()?,
        )
    }

    /// The security code every member sees for this epoch.
    pub fn security_code(&self) -> Result<SecurityCode, GroupError> {
        self.ensure_member()?;
        let authenticator = self.group.epoch_authenticator()?;
        Ok(SecurityCode::from_epoch_authenticator(
            authenticator.as_bytes(),
        ))
    }

    /// This epoch's `sframe_epoch_secret`, from which every member's SFrame media keys derive
    /// (RFC 9605 §5.2). Install it in a [`MediaKeyring`](crate::sframe::MediaKeyring).
    pub fn sframe_epoch_secret(
        &self,
        suite: sframe::CipherSuite,
    ) -> Result<Zeroizing<Vec<u8>>, GroupError> {
        self.export_secret(
            sframe::MLS_EXPORTER_LABEL.as_bytes(),
            sframe::mls_exporter_length(suite),
        )
    }

    /// An MLS exporter secret (RFC 9420 §8.5) with an empty context, for keys derived outside
    /// MLS (media, files, recordings), each under its own label.
    pub fn export_secret(
        &self,
        label: &[u8],
        length: usize,
    ) -> Result<Zeroizing<Vec<u8>>, GroupError> {
        self.ensure_member()?;
        let secret = self.group.export_secret(label, &[], length)?;
        Ok(Zeroizing::new(secret.as_bytes().to_vec()))
    }

    /// A group info (with the ratchet tree) for the delivery service to observe the group's
    /// public state. Contains no secrets.
    pub fn group_info(&self) -> Result<Vec<u8>, GroupError> {
        self.ensure_member()?;
        Ok(self.group.group_info_message(true)?.to_bytes()?)
    }

    /// Commits adding the devices behind `key_packages`, removing the members at `remove`, and
    /// any stored proposals the rules allow (the server's removal proposals). Always carries an
    /// update path, so an empty call is a self-update. The commit stays pending until
    /// [`GroupSession::merge_pending_commit`] (the delivery service accepted it) or
    /// [`GroupSession::discard_pending_commit`] (another commit won the epoch).
    pub fn commit(
        &mut self,
        key_packages: &[&[u8]],
        remove: &[u32],
    ) -> Result<OutgoingCommit, GroupError> {
        self.commit_with(key_packages, remove, None)
    }

    /// Commits a new room policy (a moderator's lobby or moderator change, or a new link key)
    /// with the stored proposals, like [`GroupSession::commit`]. Every member refuses it
    /// unless we moderate.
    pub fn commit_policy(&mut self, policy: &RoomPolicy) -> Result<OutgoingCommit, GroupError> {
        self.commit_with(&[], &[], Some(policy))
    }

    fn commit_with(
        &mut self,
        key_packages: &[&[u8]],
        remove: &[u32],
        policy: Option<&RoomPolicy>,
    ) -> Result<OutgoingCommit, GroupError> {
        self.ensure_member()?;
        if self.group.has_pending_commit() {
            return Err(GroupError::CommitPending);
        }
        let epoch = self.epoch();
        let new_extensions = policy.map(|policy| {
            let mut extensions = self.group.context().extensions.clone();
            extensions.set(policy.extension());
            extensions
        });
        let mut builder = self.group.commit_builder();
        for key_package in key_packages {
            builder = builder.add_member(decode_message(key_package)?)?;
        }
        for &leaf_index in remove {
            builder = builder.remove_member(leaf_index)?;
        }
        if let Some(extensions) = new_extensions {
            builder = builder.set_group_context_ext(extensions)?;
        }
        let output = builder.build()?;
        Ok(OutgoingCommit {
            commit: output.commit_message.to_bytes()?,
            welcome: output
                .welcome_messages
                .first()
                .map(MlsMessage::to_bytes)
                .transpose()?,
            epoch,
        })
    }

    /// Whether a commit of ours awaits the delivery service's answer.
    pub fn has_pending_commit(&self) -> bool {
        self.group.has_pending_commit()
    }

    /// Applies our pending commit once the delivery service has accepted it.
    pub fn merge_pending_commit(&mut self) -> Result<EpochChange, GroupError> {
        if !self.group.has_pending_commit() {
            return Err(GroupError::NoPendingCommit);
        }
        let before = self.roster();
        let description = self.group.apply_pending_commit()?;
        Ok(self.epoch_change(&before, description.committer, &description.effect))
    }

    /// Drops our pending commit because another one won the epoch; process the winner, then
    /// commit again on the new epoch.
    pub fn discard_pending_commit(&mut self) -> Result<(), GroupError> {
        if !self.group.has_pending_commit() {
            return Err(GroupError::NoPendingCommit);
        }
        self.group.clear_pending_commit();
        Ok(())
    }

    /// Encrypts application data (chat, file keys...) for the current members, with
    /// `authenticated_data` in the clear but authenticated (the delivery service reads it to
    /// apply permissions; receivers get it from [`Incoming::Application`]).
    pub fn encrypt_application(
        &mut self,
        authenticated_data: &[u8],
        data: &[u8],
    ) -> Result<Vec<u8>, GroupError> {
        self.ensure_member()?;
        let message = self
            .group
            .encrypt_application_message(data, authenticated_data.to_vec())?;
        Ok(message.to_bytes()?)
    }

    /// Processes a message the delivery service relayed as `relayed`, after checking — before
    /// it touches the group — that it is one: what changes the group is exactly what the
    /// service sequenced as a commit, never a commit slipped in as an application message or
    /// a proposal.
    pub fn process_relayed(
        &mut self,
        relayed: Relayed,
        bytes: &[u8],
    ) -> Result<Incoming, GroupError> {
        self.ensure_member()?;
        let message = decode_message(bytes)?;
        if !relayed.matches(&message.description()) {
            return Err(GroupError::NotAsRelayed { relayed });
        }
        self.process_message(message, bytes)
    }

    /// Processes a commit, proposal or application message relayed by the delivery service.
    pub fn process(&mut self, bytes: &[u8]) -> Result<Incoming, GroupError> {
        self.ensure_member()?;
        self.process_message(decode_message(bytes)?, bytes)
    }

    /// [`GroupSession::process`] of `message`, decoded from `bytes`.
    fn process_message(
        &mut self,
        message: MlsMessage,
        bytes: &[u8],
    ) -> Result<Incoming, GroupError> {
        if message.group_id() != Some(self.group.group_id()) {
            return Err(GroupError::WrongGroup);
        }
        if message.wire_format() == WireFormat::PrivateMessage {
            // mls-rs would decrypt and apply an encrypted commit or proposal, which the
            // delivery service could neither check nor order: refuse it from its clear header.
            application_authenticated_data(bytes)?;
        }
        if let Some(message_epoch) = message.epoch() {
            let group_epoch = self.epoch();
            // Application messages may come from the previous epoch (still in flight when a
            // commit landed); handshake messages must be for the current one.
            if message_epoch > group_epoch {
                return Err(GroupError::WrongEpoch {
                    message_epoch,
                    group_epoch,
                });
            }
        }
        let before = self.roster();
        match self.group.process_incoming_message(message)? {
            ReceivedMessage::Commit(description) => Ok(Incoming::Commit(self.epoch_change(
                &before,
                description.committer,
                &description.effect,
            ))),
            ReceivedMessage::Proposal(description) => Ok(Incoming::Proposal {
                sender: match description.sender {
                    mls_rs::group::ProposalSender::Member(i) => ProposalSender::Member(i),
                    mls_rs::group::ProposalSender::External(i) => ProposalSender::ExternalSender(i),
                    mls_rs::group::ProposalSender::NewMember => ProposalSender::NewMember,
                },
                change: match &description.proposal {
                    Proposal::Add(add) => ProposedChange::Add {
                        credential_name: credential_name(add.signing_identity()),
                    },
                    Proposal::Remove(remove) => ProposedChange::Remove {
                        leaf_index: remove.to_remove(),
                    },
                    _ => ProposedChange::Other,
                },
            }),
            ReceivedMessage::ApplicationMessage(description) => Ok(Incoming::Application {
                sender: description.sender_index,
                data: description.data().to_vec(),
                authenticated_data: description.authenticated_data,
            }),
            _ => Err(GroupError::Malformed(
                "not a commit, proposal or application message".into(),
            )),
        }
    }

    fn epoch_change(
        &mut self,
        before: &[RosterMember],
        committer: u32,
        effect: &CommitEffect,
    ) -> EpochChange {
        let removed_us = matches!(effect, CommitEffect::Removed { .. });
        self.removed |= removed_us;
        let after = self.roster();
        let added: Vec<RosterMember> = after
            .iter()
            .filter(|m| !before.contains(m))
            .cloned()
            .collect();
        EpochChange {
            epoch: self.epoch(),
            committer,
            added,
            removed: before
                .iter()
                .filter(|m| !after.contains(m))
                .cloned()
                .collect(),
            removed_us,
        }
    }

    /// The room's policy in the group context, if the group is a room link's.
    pub fn policy(&self) -> Option<RoomPolicy> {
        RoomPolicy::from_context(&self.group.context().extensions)
    }

    /// The room link's key this group's policy names, if the group is a room link's.
    pub fn link_key(&self) -> Option<LinkKey> {
        self.policy().map(|p| p.link_key)
    }

    /// Seals `plaintext` so that only the member at `recipient_leaf` can read it, with the
    /// private-message key its leaf publishes: send the result with
    /// [`GroupSession::encrypt_application`]. The recipient opens it with
    /// [`GroupSession::open_private`] and the sender MLS names.
    pub fn seal_private(
        &self,
        recipient_leaf: u32,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, GroupError> {
        self.ensure_member()?;
        let own_leaf = self.own_leaf_index();
        if recipient_leaf == own_leaf {
            return Err(GroupError::PrivateMessage("sealed to ourselves"));
        }
        let recipient = self
            .group
            .member_at_index(recipient_leaf)
            .ok_or(GroupError::NoSuchMember(recipient_leaf))?;
        let key = private_message::published_key(&recipient.extensions)
            .ok_or(GroupError::PrivateMessage("the member publishes no key"))?;
        let info = private_message::info(self.group_id(), own_leaf, recipient_leaf);
        private_message::seal(&key, &info, plaintext)
    }

    /// Opens a private message the member at `sender_leaf` (the sender of the application
    /// message that carried it) sealed to us in this group. Anything else fails.
    pub fn open_private(&self, sender_leaf: u32, sealed: &[u8]) -> Result<Vec<u8>, GroupError> {
        self.ensure_member()?;
        let info = private_message::info(self.group_id(), sender_leaf, self.own_leaf_index());
        self.private_key.open(&info, sealed)
    }

    fn ensure_member(&self) -> Result<(), GroupError> {
        if self.removed {
            Err(GroupError::Removed)
        } else {
            Ok(())
        }
    }
}

/// Whether a key package proves that its device held the link whose key is `link`, unchecked
/// otherwise (the commit that adds it validates the rest).
pub fn key_package_proves_link(key_package: &[u8], link: &LinkKey) -> Result<bool, GroupError> {
    let message = decode_message(key_package)?;
    let key_package = message
        .as_key_package()
        .ok_or_else(|| GroupError::Malformed("not a key package".into()))?;
    Ok(link.proven_by(
        &key_package.signing_identity().signature_key,
        &key_package.extensions,
    ))
}

/// The fingerprint of the signature key in a key package, unchecked: for a client deciding
/// whether this is a device its user admitted (the commit that adds it validates the rest).
pub fn key_package_fingerprint(key_package: &[u8]) -> Result<Fingerprint, GroupError> {
    decode_message(key_package)?
        .as_key_package()
        .map(|kp| Fingerprint::of_signing_identity(kp.signing_identity()))
        .ok_or_else(|| GroupError::Malformed("not a key package".into()))
}

pub(crate) fn decode_message(bytes: &[u8]) -> Result<MlsMessage, GroupError> {
    if bytes.len() > MAX_MLS_MESSAGE_BYTES {
        return Err(GroupError::TooLarge(bytes.len()));
    }
    let mut reader = bytes;
    let message =
        MlsMessage::mls_decode(&mut reader).map_err(|e| GroupError::Malformed(e.to_string()))?;
    if !reader.is_empty() {
        return Err(GroupError::Malformed("trailing bytes".into()));
    }
    Ok(message)
}

/// The clear `authenticated_data` of an application message, read from its PrivateMessage
/// header (RFC 9420 §6.3: after the MLSMessage's version and wire format come the group id, the
/// epoch and the content type) without decrypting anything. An encrypted commit or proposal is
/// refused: handshake messages must be public for the delivery service to check and order them.
/// mls-rs keeps its PrivateMessage type private, so the fields are read here.
pub(crate) fn application_authenticated_data(
    private_message: &[u8],
) -> Result<Vec<u8>, GroupError> {
    /// RFC 9420 §6: ContentType `application`.
    const APPLICATION: u8 = 1;
    let malformed = |e: mls_rs::mls_rs_codec::Error| GroupError::Malformed(e.to_string());
    let mut reader = private_message.get(4..).unwrap_or_default();
    Vec::<u8>::mls_decode(&mut reader).map_err(malformed)?; // group_id
    u64::mls_decode(&mut reader).map_err(malformed)?; // epoch
    if u8::mls_decode(&mut reader).map_err(malformed)? != APPLICATION {
        return Err(GroupError::EncryptedHandshake);
    }
    Vec::<u8>::mls_decode(&mut reader).map_err(malformed)
}

/// Fails unless a group context's `extensions` list `expected` as the group's one external
/// sender.
pub(crate) fn ensure_sole_external_sender(
    extensions: &ExtensionList,
    expected: &SigningIdentity,
) -> Result<(), GroupError> {
    let senders = extensions
        .get_as::<ExternalSendersExt>()
        .map_err(|e| GroupError::Malformed(e.to_string()))?;
    match senders.as_ref().map(ExternalSendersExt::allowed_senders) {
        Some([sender]) if sender == expected => Ok(()),
        _ => Err(GroupError::ExternalSenderMismatch),
    }
}

/// Serializes an MLS signing identity; used for the external sender's key.
pub(crate) fn encode_signing_identity(identity: &SigningIdentity) -> Result<Vec<u8>, GroupError> {
    identity
        .mls_encode_to_vec()
        .map_err(|e| GroupError::Malformed(e.to_string()))
}
