//! Raised hands, reactions and polls inside the group (see `sealroom_protocol::Interaction`).
//! The server relays them without reading them, so each member's core enforces the rules as it
//! receives them: only a moderator lowers someone else's hand, only a poll's creator opens its
//! votes (sealed to it alone), publishes its results and closes it. Whoever joins cannot read
//! what was said before, so members whose hand is up and creators of open polls say so again.

use std::collections::BTreeMap;

use sealroom_e2ee::{EpochChange, GroupError, GroupSession};
use sealroom_protocol::{
    ApplicationKind, Ballot, Bytes, Interaction, Poll, PollMessage, PollRef, PollResults,
    PublishedResults, REACTIONS, ResultsFor, SealedCopy, encode,
};

use crate::{CommandError, Output, Participant, ReceivedApplication, read_message};

/// A member whose hand is up.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RaisedHand {
    /// The member's leaf.
    pub leaf: u32,
    /// The member's name, from its MLS credential.
    pub name: String,
}

/// A member's reaction (ours too), for a moment on screen.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reaction {
    /// The sender's leaf.
    pub sender: u32,
    /// The sender's name, from its MLS credential.
    pub sender_name: String,
    /// One of [`REACTIONS`].
    pub emoji: String,
}

/// Everything we know of one poll.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PollView {
    /// Which poll: its creator's leaf and number.
    pub poll: PollRef,
    /// The creator's name, from its MLS credential.
    pub creator_name: String,
    /// The question, plain text.
    pub question: String,
    /// The answers, plain text.
    pub options: Vec<String>,
    /// Several answers may be chosen.
    pub multiple: bool,
    /// The results do not say who chose what.
    pub anonymous: bool,
    /// Who sees the results.
    pub results_for: ResultsFor,
    /// We created it.
    pub mine: bool,
    /// The answers we chose, by index (empty: we did not vote).
    pub own_choices: Vec<u8>,
    /// The results, if we may read them (the creator always does).
    pub results: Option<ResultsView>,
    /// It takes no more votes.
    pub closed: bool,
}

/// A poll's results as we read them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ResultsView {
    /// Votes for each answer, in the poll's order.
    pub counts: Vec<u32>,
    /// Members who voted.
    pub voters: u32,
    /// The names of those who chose each answer, from our roster; empty if anonymous.
    pub named: Vec<Vec<String>>,
}

/// What hands and polls remember between messages, for one group.
#[derive(Debug, Default)]
pub(crate) struct InteractionState {
    /// Leaves whose hand is up, in the order we learnt it.
    hands: Vec<u32>,
    polls: BTreeMap<PollRef, PollState>,
    /// The number of our latest poll.
    last_poll_id: u64,
    /// Votes from other members for polls not ours: sealed to their creators, never opened.
    pub votes_not_for_us: u64,
}

#[derive(Debug)]
struct PollState {
    poll: Poll,
    own_choices: Vec<u8>,
    /// Counted by us (our poll), or published to us by its creator.
    results: Option<PollResults>,
    closed: bool,
    /// Our poll: each voter's latest choices, by leaf.
    ballots: BTreeMap<u32, Vec<u8>>,
}

impl PollState {
    fn new(poll: Poll) -> Self {
        Self {
            poll,
            own_choices: Vec::new(),
            results: None,
            closed: false,
            ballots: BTreeMap::new(),
        }
    }

    /// Our poll: counts its ballots again.
    fn count(&mut self) {
        let options = self.poll.options.len();
        let mut counts = vec![0; options];
        let mut named = vec![Vec::new(); if self.poll.anonymous { 0 } else { options }];
        for (&voter, choices) in &self.ballots {
            for &choice in choices {
                counts[usize::from(choice)] += 1;
                if let Some(voters) = named.get_mut(usize::from(choice)) {
                    voters.push(voter);
                }
            }
        }
        self.results = Some(PollResults {
            counts,
            voters: self.ballots.len() as u32,
            named,
            closed: self.closed,
        });
    }

    /// Whether published results have this poll's shape (else a screen would misread them).
    fn fits(&self, results: &PollResults) -> bool {
        let options = self.poll.options.len();
        let named = if self.poll.anonymous { 0 } else { options };
        results.counts.len() == options && results.named.len() == named
    }
}

const UNACCEPTABLE_POLL: &str =
    "a poll needs a question and 2 to 10 distinct answers, each within its length";

impl Participant {
    /// Our user raises their hand, or lowers it.
    pub fn raise_hand(&mut self, raised: bool) -> Result<(), CommandError> {
        self.send_interaction(&Interaction::Hand { raised })?;
        let own = self.own_leaf().ok_or(CommandError::NoGroup)?;
        self.set_hand(own, raised);
        Ok(())
    }

    /// Our user, a moderator, lowers the hand of the member at `leaf`.
    pub fn lower_hand(&mut self, leaf: u32) -> Result<(), CommandError> {
        self.ensure_moderator()?;
        self.send_interaction(&Interaction::LowerHand { leaf })?;
        self.set_hand(leaf, false);
        Ok(())
    }

    /// Our user reacts with one of [`REACTIONS`]; shown to us too, as every reaction is.
    pub fn react(&mut self, emoji: &str) -> Result<(), CommandError> {
        if !REACTIONS.contains(&emoji) {
            return Err(CommandError::Reaction);
        }
        self.send_interaction(&Interaction::Reaction {
            emoji: emoji.to_owned(),
        })?;
        let own = self.own_leaf().ok_or(CommandError::NoGroup)?;
        self.show_reaction(own, emoji.to_owned());
        Ok(())
    }

    /// Our user opens a poll; returns its number. Our core counts its votes and publishes the
    /// results as `results_for` says.
    pub fn open_poll(
        &mut self,
        question: &str,
        options: Vec<String>,
        multiple: bool,
        anonymous: bool,
        results_for: ResultsFor,
    ) -> Result<u64, CommandError> {
        let poll = Poll {
            id: self.interaction.last_poll_id + 1,
            question: question.to_owned(),
            options,
            multiple,
            anonymous,
            results_for,
        };
        if !poll.is_acceptable() {
            return Err(CommandError::Poll(UNACCEPTABLE_POLL));
        }
        let own = self.own_leaf().ok_or(CommandError::NoGroup)?;
        let poll_ref = PollRef {
            creator: own,
            id: poll.id,
        };
        self.send_poll_message(&PollMessage::Open(poll.clone()))?;
        self.interaction.last_poll_id = poll.id;
        self.interaction
            .polls
            .insert(poll_ref, PollState::new(poll));
        self.recount(poll_ref);
        Ok(poll_ref.id)
    }

    /// Our user votes: the ballot is sealed to the poll's creator alone (or, in our own poll,
    /// counted here). A later vote replaces an earlier one.
    pub fn vote(&mut self, poll: PollRef, choices: Vec<u8>) -> Result<(), CommandError> {
        let own = self.own_leaf().ok_or(CommandError::NoGroup)?;
        let state = self.interaction.polls.get(&poll);
        let state = state.ok_or(CommandError::Poll("no such poll"))?;
        let ballot = Ballot { choices };
        if state.closed {
            return Err(CommandError::Poll("the poll is closed"));
        }
        if !state.poll.accepts(&ballot) {
            return Err(CommandError::Poll("the poll does not take these answers"));
        }
        if poll.creator != own {
            let group = self.group.as_ref().ok_or(CommandError::NoGroup)?;
            let sealed = group.seal_private(poll.creator, encode(&ballot).as_bytes())?;
            let sealed = Bytes(sealed);
            self.send_interaction(&Interaction::Vote { poll, sealed })?;
        }
        if let Some(state) = self.interaction.polls.get_mut(&poll) {
            state.own_choices.clone_from(&ballot.choices);
        }
        if poll.creator == own {
            self.count_ballot(poll, own, ballot.choices);
        } else {
            self.show_poll(poll);
        }
        Ok(())
    }

    /// Our user closes a poll of ours: its final results go out, and it takes no more votes.
    pub fn close_poll(&mut self, id: u64) -> Result<(), CommandError> {
        let own = self.own_leaf().ok_or(CommandError::NoGroup)?;
        let poll = PollRef { creator: own, id };
        let state = self.interaction.polls.get_mut(&poll);
        let state = state.ok_or(CommandError::Poll("no poll of ours has this number"))?;
        if state.closed {
            return Err(CommandError::Poll("the poll is closed"));
        }
        state.closed = true;
        self.recount(poll);
        self.send_poll_message(&PollMessage::Close { id })
    }

    /// Votes from other members for polls not ours: sealed to their creators, never opened.
    pub fn votes_not_for_us(&self) -> u64 {
        self.interaction.votes_not_for_us
    }

    /// A member's hand, reaction or vote.
    pub(crate) fn on_interaction(&mut self, received: &ReceivedApplication) {
        let sender = received.sender;
        match read_message::<Interaction>(&received.data) {
            Ok(Interaction::Hand { raised }) => self.set_hand(sender, raised),
            Ok(Interaction::LowerHand { leaf }) if self.moderator_leaves().contains(&sender) => {
                self.set_hand(leaf, false)
            }
            Ok(Interaction::LowerHand { .. }) => self.error(format!(
                "hand: {} is not a moderator and may not lower hands",
                self.leaf_name(sender)
            )),
            Ok(Interaction::Reaction { emoji }) if REACTIONS.contains(&emoji.as_str()) => {
                self.show_reaction(sender, emoji)
            }
            Ok(Interaction::Reaction { .. }) => {
                self.error("reaction: not one of the reactions clients show".into())
            }
            Ok(Interaction::Vote { poll, sealed }) => self.on_vote(sender, poll, sealed.as_ref()),
            Ok(Interaction::Help { room }) => self.on_help(sender, room),
            Err(e) => self.error(format!("interaction: {e}")),
        }
    }

    /// A poll's opening, results or end, from its creator: the sender names the poll.
    pub(crate) fn on_poll_message(&mut self, received: &ReceivedApplication) {
        let creator = received.sender;
        let handled =
            read_message::<PollMessage>(&received.data).and_then(|message| match message {
                PollMessage::Open(poll) => self.on_poll_open(creator, poll),
                PollMessage::Results { id, results } => {
                    self.on_poll_results(PollRef { creator, id }, results)
                }
                PollMessage::Close { id } => self.on_poll_close(PollRef { creator, id }),
            });
        if let Err(e) = handled {
            self.error(format!("poll: {e}"));
        }
    }

    /// Members left: their hands go down and their polls close. Members joined: they hear
    /// our hand and our open polls again.
    pub(crate) fn on_membership_change(&mut self, change: &EpochChange) {
        for member in &change.removed {
            self.member_left(member.leaf_index);
        }
        if !change.added.is_empty() {
            self.greet_newcomers();
        }
    }

    fn member_left(&mut self, leaf: u32) {
        self.set_hand(leaf, false);
        let theirs: Vec<PollRef> = self
            .interaction
            .polls
            .keys()
            .filter(|poll| poll.creator == leaf)
            .copied()
            .collect();
        for poll in theirs {
            if let Some(state) = self.interaction.polls.get_mut(&poll).filter(|s| !s.closed) {
                state.closed = true;
                self.show_poll(poll);
            }
            // Forgotten once shown: a newcomer may take the leaf, and its polls are new.
            self.interaction.polls.remove(&poll);
        }
    }

    fn greet_newcomers(&mut self) {
        let Some(own) = self.own_leaf() else {
            return;
        };
        if self.interaction.hands.contains(&own)
            && let Err(e) = self.send_interaction(&Interaction::Hand { raised: true })
        {
            self.error(format!("hand: {e}"));
        }
        let open: Vec<PollRef> = self
            .interaction
            .polls
            .iter()
            .filter(|(poll, state)| poll.creator == own && !state.closed)
            .map(|(poll, _)| *poll)
            .collect();
        for poll in open {
            let Some(state) = self.interaction.polls.get(&poll) else {
                continue;
            };
            let open = PollMessage::Open(state.poll.clone());
            match self.send_poll_message(&open) {
                Ok(()) => self.publish_results(poll),
                Err(e) => self.error(format!("poll: {e}")),
            }
        }
    }

    fn on_vote(&mut self, voter: u32, poll: PollRef, sealed: &[u8]) {
        if self.own_leaf() != Some(poll.creator) {
            self.interaction.votes_not_for_us += 1;
            return;
        }
        match self.open_ballot(voter, poll, sealed) {
            Ok(Some(ballot)) => self.count_ballot(poll, voter, ballot.choices),
            Ok(None) => {}
            Err(e) => self.error(format!("poll: {e}")),
        }
    }

    /// The ballot a vote for our poll carries, if the poll is still open.
    fn open_ballot(
        &self,
        voter: u32,
        poll: PollRef,
        sealed: &[u8],
    ) -> Result<Option<Ballot>, String> {
        let state = self.interaction.polls.get(&poll);
        let state = state.ok_or("a vote for a poll of ours that does not exist")?;
        // A vote that crossed the close on its way.
        if state.closed {
            return Ok(None);
        }
        let group = self.group.as_ref().ok_or("not in the group")?;
        let opened = group
            .open_private(voter, sealed)
            .map_err(|e| e.to_string())?;
        let ballot = read_message::<Ballot>(&opened)?;
        if !state.poll.accepts(&ballot) {
            return Err("a ballot the poll does not take".into());
        }
        Ok(Some(ballot))
    }

    fn on_poll_open(&mut self, creator: u32, poll: Poll) -> Result<(), String> {
        if !poll.is_acceptable() {
            return Err(UNACCEPTABLE_POLL.into());
        }
        let poll_ref = PollRef {
            creator,
            id: poll.id,
        };
        // Said again for a newcomer: nothing new.
        if self.interaction.polls.contains_key(&poll_ref) {
            return Ok(());
        }
        self.interaction
            .polls
            .insert(poll_ref, PollState::new(poll));
        self.show_poll(poll_ref);
        Ok(())
    }

    fn on_poll_results(
        &mut self,
        poll: PollRef,
        published: PublishedResults,
    ) -> Result<(), String> {
        let state = self.interaction.polls.get(&poll);
        let state = state.ok_or("results of a poll we do not know")?;
        let results = match (state.poll.results_for, published) {
            (ResultsFor::Everyone, PublishedResults::Everyone { results }) => results,
            (ResultsFor::Moderators, PublishedResults::Moderators { sealed }) => {
                match self.open_own_copy(poll.creator, &sealed)? {
                    Some(results) => results,
                    None => return Ok(()),
                }
            }
            _ => return Err("results published to others than the poll says".into()),
        };
        if !state.fits(&results) {
            return Err("results that do not fit the poll".into());
        }
        if let Some(state) = self.interaction.polls.get_mut(&poll) {
            state.results = Some(results);
        }
        self.show_poll(poll);
        Ok(())
    }

    /// The copy of the results sealed to us, if there is one (we moderate).
    fn open_own_copy(
        &self,
        creator: u32,
        copies: &[SealedCopy],
    ) -> Result<Option<PollResults>, String> {
        let group = self.group.as_ref().ok_or("not in the group")?;
        let own = group.own_leaf_index();
        let Some(copy) = copies.iter().find(|copy| copy.leaf == own) else {
            return Ok(None);
        };
        let opened = group
            .open_private(creator, copy.sealed.as_ref())
            .map_err(|e| e.to_string())?;
        read_message::<PollResults>(&opened).map(Some)
    }

    fn on_poll_close(&mut self, poll: PollRef) -> Result<(), String> {
        let state = self.interaction.polls.get_mut(&poll);
        let state = state.ok_or("the close of a poll we do not know")?;
        if !state.closed {
            state.closed = true;
            self.show_poll(poll);
        }
        Ok(())
    }

    /// Our poll: the voter's ballot replaces any earlier one.
    fn count_ballot(&mut self, poll: PollRef, voter: u32, choices: Vec<u8>) {
        if let Some(state) = self.interaction.polls.get_mut(&poll) {
            state.ballots.insert(voter, choices);
        }
        self.recount(poll);
    }

    /// Our poll: counts it, publishes the results and shows them.
    fn recount(&mut self, poll: PollRef) {
        if let Some(state) = self.interaction.polls.get_mut(&poll) {
            state.count();
        }
        self.publish_results(poll);
        self.show_poll(poll);
    }

    fn publish_results(&mut self, poll: PollRef) {
        let Some(state) = self.interaction.polls.get(&poll) else {
            return;
        };
        let Some(results) = &state.results else {
            return;
        };
        let results = match state.poll.results_for {
            ResultsFor::Everyone => Ok(PublishedResults::Everyone {
                results: results.clone(),
            }),
            ResultsFor::Moderators => self.sealed_to_moderators(results),
        };
        let sent = results.map_err(CommandError::from).and_then(|results| {
            self.send_poll_message(&PollMessage::Results {
                id: poll.id,
                results,
            })
        });
        if let Err(e) = sent {
            self.error(format!("poll: {e}"));
        }
    }

    /// A copy of `results` sealed to each other moderator in the group.
    fn sealed_to_moderators(&self, results: &PollResults) -> Result<PublishedResults, GroupError> {
        let group = self.group.as_ref().ok_or(GroupError::Removed)?;
        let own = group.own_leaf_index();
        let plaintext = encode(results);
        // A moderator whose leaf publishes no usable key cannot read them, and gets none.
        let sealed = self
            .moderator_leaves()
            .into_iter()
            .filter(|&leaf| leaf != own)
            .filter_map(|leaf| {
                let sealed = group.seal_private(leaf, plaintext.as_bytes()).ok()?;
                Some(SealedCopy {
                    leaf,
                    sealed: Bytes(sealed),
                })
            })
            .collect();
        Ok(PublishedResults::Moderators { sealed })
    }

    /// Leaves of the members the room policy names as moderators.
    pub(crate) fn moderator_leaves(&self) -> Vec<u32> {
        let Some(group) = self.group.as_ref() else {
            return Vec::new();
        };
        let Some(policy) = group.policy() else {
            return Vec::new();
        };
        group
            .roster()
            .into_iter()
            .filter(|member| policy.is_moderator(&member.fingerprint))
            .map(|member| member.leaf_index)
            .collect()
    }

    fn set_hand(&mut self, leaf: u32, raised: bool) {
        let hands = &mut self.interaction.hands;
        if hands.contains(&leaf) == raised {
            return;
        }
        if raised {
            hands.push(leaf);
        } else {
            hands.retain(|&up| up != leaf);
        }
        let hands = self.interaction.hands.iter();
        let hands = hands.map(|&leaf| RaisedHand {
            leaf,
            name: self.leaf_name(leaf),
        });
        let hands = hands.collect();
        self.outputs.push_back(Output::Hands(hands));
    }

    fn show_reaction(&mut self, sender: u32, emoji: String) {
        let reaction = Reaction {
            sender,
            sender_name: self.leaf_name(sender),
            emoji,
        };
        self.outputs.push_back(Output::Reaction(reaction));
    }

    fn show_poll(&mut self, poll: PollRef) {
        let Some(state) = self.interaction.polls.get(&poll) else {
            return;
        };
        let view = PollView {
            poll,
            creator_name: self.leaf_name(poll.creator),
            question: state.poll.question.clone(),
            options: state.poll.options.clone(),
            multiple: state.poll.multiple,
            anonymous: state.poll.anonymous,
            results_for: state.poll.results_for,
            mine: self.own_leaf() == Some(poll.creator),
            own_choices: state.own_choices.clone(),
            results: state.results.as_ref().map(|r| self.results_view(r)),
            closed: state.closed,
        };
        self.outputs.push_back(Output::Poll(Box::new(view)));
    }

    fn results_view(&self, results: &PollResults) -> ResultsView {
        let names = |leaves: &Vec<u32>| leaves.iter().map(|&leaf| self.leaf_name(leaf)).collect();
        ResultsView {
            counts: results.counts.clone(),
            voters: results.voters,
            named: results.named.iter().map(names).collect(),
        }
    }

    fn send_interaction(&mut self, interaction: &Interaction) -> Result<(), CommandError> {
        self.send_application(ApplicationKind::Interaction, encode(interaction).as_bytes())
    }

    fn send_poll_message(&mut self, message: &PollMessage) -> Result<(), CommandError> {
        self.send_application(ApplicationKind::Poll, encode(message).as_bytes())
    }

    pub(crate) fn own_leaf(&self) -> Option<u32> {
        self.group.as_ref().map(GroupSession::own_leaf_index)
    }

    pub(crate) fn leaf_name(&self, leaf: u32) -> String {
        self.name_at_leaf(leaf).unwrap_or("").to_owned()
    }
}
