//! Sealroom's MLS rules: what every member's client accepts in a commit. All members apply the
//! same rules, so a proposal one client refuses is refused by all.

use mls_rs::{
    ExtensionList,
    extension::ExtensionType,
    group::{
        GroupContext, Roster, Sender,
        mls_rules::{CommitDirection, CommitOptions, CommitSource, EncryptionOptions, MlsRules},
        proposal::{AddProposal, BorrowedProposal},
    },
    mls_rules::{ProposalBundle, ProposalInfo, ProposalSource},
};

use crate::{
    identity::Fingerprint,
    room_policy::{ROOM_POLICY_EXTENSION, RoomPolicy},
};

/// Why a commit broke Sealroom's rules.
#[derive(Debug, thiserror::Error)]
pub enum RuleViolation {
    /// The external sender (the server) may only propose removals; any other proposal from it
    /// would let the server add a member nobody invited.
    #[error("external sender proposed something other than a removal")]
    ExternalSenderOverreach,
    /// Joining happens only through a Welcome from a member, never by external commit.
    #[error("external commits are not allowed")]
    ExternalCommit,
    /// A group-context-extensions proposal that changes or drops the group's external senders:
    /// without the delivery service listed, nobody could propose removing a member who left.
    #[error("a commit may not change the group's external senders")]
    ExternalSendersChanged,
    /// A change of the room's policy (link key, lobby, moderators) that is not a moderator's
    /// own, well-formed one: the server, or a member it colludes with, could otherwise open the
    /// lobby or make its own device a moderator.
    #[error("only a moderator's own commit may change the room's policy")]
    RoomPolicyChanged,
    /// An Add the room's policy does not allow: by a committer who does not moderate, of a
    /// device that neither moderates nor (with no lobby) proves it holds the room link.
    #[error("an add without a moderator's admission or the room link")]
    UnadmittedAdd,
    /// An Add proposed by someone other than the committer (by reference): committed by an
    /// honest member, it would bring in whoever the proposer chose under the committer's name.
    /// A member adds only in its own commit, where its client's admission rules apply.
    #[error("an add may not be proposed by reference")]
    AddByReference,
}

/// Which rule, if any, a proposal breaks in a group whose context is `context`, in a commit by
/// the member with the fingerprint `committer`.
fn violation(
    info: &ProposalInfo<BorrowedProposal<'_>>,
    context: &GroupContext,
    committer: &Fingerprint,
) -> Option<RuleViolation> {
    let policy = RoomPolicy::from_context(&context.extensions);
    match &info.proposal {
        BorrowedProposal::Remove(_) => None,
        _ if matches!(info.sender, Sender::External(_) | Sender::NewMemberProposal) => {
            Some(RuleViolation::ExternalSenderOverreach)
        }
        BorrowedProposal::Add(_) if matches!(info.source, ProposalSource::ByReference(_)) => {
            Some(RuleViolation::AddByReference)
        }
        BorrowedProposal::Add(add) => add_violation(add, policy.as_ref(), committer),
        BorrowedProposal::GroupContextExtensions(extensions)
            if changes(extensions, context, ExtensionType::EXTERNAL_SENDERS) =>
        {
            Some(RuleViolation::ExternalSendersChanged)
        }
        BorrowedProposal::GroupContextExtensions(extensions)
            if changes(extensions, context, ROOM_POLICY_EXTENSION) =>
        {
            let by_moderator = policy.is_some_and(|p| p.is_moderator(committer))
                && matches!(info.source, ProposalSource::ByValue);
            let well_formed = RoomPolicy::from_context(extensions).is_some();
            (!(by_moderator && well_formed)).then_some(RuleViolation::RoomPolicyChanged)
        }
        _ => None,
    }
}

/// Whether an Add breaks the room's policy (a group founded without one has no Add rule).
fn add_violation(
    add: &AddProposal,
    policy: Option<&RoomPolicy>,
    committer: &Fingerprint,
) -> Option<RuleViolation> {
    let allowed = policy.is_none_or(|policy| {
        policy.allows_add(
            committer,
            add.signing_identity(),
            &add.key_package_extensions(),
        )
    });
    (!allowed).then_some(RuleViolation::UnadmittedAdd)
}

/// Whether new group context `extensions` change the extension `kind` of `context`.
fn changes(extensions: &ExtensionList, context: &GroupContext, kind: ExtensionType) -> bool {
    extensions.get(kind) != context.extensions.get(kind)
}

impl mls_rs::error::IntoAnyError for RuleViolation {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(Box::new(self))
    }
}

/// The rules. Handshake messages go out as MLS PublicMessage so the delivery service can order
/// and check them (their secrets are HPKE-encrypted inside); application data is always
/// encrypted.
#[derive(Clone, Debug, Default)]
pub struct RoomRules;

impl MlsRules for RoomRules {
    type Error = RuleViolation;

    fn filter_proposals(
        &self,
        direction: CommitDirection,
        source: CommitSource,
        _roster: &Roster,
        context: &GroupContext,
        mut proposals: ProposalBundle,
    ) -> Result<ProposalBundle, Self::Error> {
        let committer = match &source {
            CommitSource::ExistingMember(member) => {
                Fingerprint::of_signing_identity(&member.signing_identity)
            }
            CommitSource::NewMember(_) => return Err(RuleViolation::ExternalCommit),
        };
        match direction {
            // Building our own commit: silently leave out what the rules forbid, so a server or
            // member that sends a forbidden proposal cannot stop the group from making progress.
            CommitDirection::Send => proposals.retain(|info| {
                Ok::<_, RuleViolation>(violation(info, context, &committer).is_none())
            })?,
            // A commit from someone else that includes one is rejected as a whole.
            CommitDirection::Receive => {
                for info in proposals.iter_proposals() {
                    if let Some(violation) = violation(&info, context, &committer) {
                        return Err(violation);
                    }
                }
            }
        }
        Ok(proposals)
    }

    fn commit_options(
        &self,
        _roster: &Roster,
        _context: &GroupContext,
        _proposals: &ProposalBundle,
    ) -> Result<CommitOptions, Self::Error> {
        // Every commit carries a path: each join, leave and periodic update rekeys the sender's
        // path, which is what gives post-compromise security. The Welcome carries the tree so a
        // joiner needs nothing out of band.
        Ok(CommitOptions::new()
            .with_path_required(true)
            .with_ratchet_tree_extension(true)
            .with_single_welcome_message(true))
    }

    fn encryption_options(
        &self,
        _roster: &Roster,
        _context: &GroupContext,
    ) -> Result<EncryptionOptions, Self::Error> {
        Ok(EncryptionOptions::new(
            false,
            mls_rs::client_builder::PaddingMode::StepFunction,
        ))
    }
}
