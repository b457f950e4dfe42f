//! Sealroom's MLS rules: what every member's client accepts in a commit. All members apply the
//! same rules, so a proposal one client refuses is refused by all.

use mls_rs::group::GroupContext;
use mls_rs::{
    group::{
        Roster, Sender,
        mls_rules::{CommitDirection, CommitOptions, CommitSource, EncryptionOptions, MlsRules},
        proposal::BorrowedProposal,
    },
    mls_rules::ProposalBundle,
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
        _context: &GroupContext,
        mut proposals: ProposalBundle,
    ) -> Result<ProposalBundle, Self::Error> {
        if matches!(source, CommitSource::NewMember(_)) {
            return Err(RuleViolation::ExternalCommit);
        }
        let overreach = |sender: &Sender, proposal: &BorrowedProposal<'_>| {
            matches!(sender, Sender::External(_) | Sender::NewMemberProposal)
                && !matches!(proposal, BorrowedProposal::Remove(_))
        };
        match direction {
            // Building our own commit: silently leave out what the rules forbid, so a server that
            // sends a forbidden proposal cannot stop the group from making progress.
            CommitDirection::Send => proposals
                .retain(|info| Ok::<_, RuleViolation>(!overreach(&info.sender, &info.proposal)))?,
            // A commit from someone else that includes one is rejected as a whole.
            CommitDirection::Receive => {
                for info in proposals.iter_proposals() {
                    if overreach(&info.sender, &info.proposal) {
                        return Err(RuleViolation::ExternalSenderOverreach);
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
