//! Raised hands, reactions and polls: what members' clients say to each other inside MLS
//! application messages (the server relays them without reading them). Hands, reactions and
//! votes are [`ApplicationKind::Interaction`](crate::ApplicationKind::Interaction) (everyone
//! may send them); opening a poll, its results and its end are
//! [`ApplicationKind::Poll`](crate::ApplicationKind::Poll), which the room's `polls`
//! permission governs.
//!
//! A vote is sealed with HPKE to the poll's creator alone, whose client counts the votes and
//! publishes the results: to everyone, or sealed to each moderator. Other members never see
//! who voted what; in a named poll, the results list the voters by MLS leaf, which each client
//! names from its own roster.

use serde::{Deserialize, Serialize};

use crate::Bytes;

/// The reactions a client sends and shows: any other is refused.
pub const REACTIONS: [&str; 6] = ["👍", "👏", "❤️", "😂", "😮", "🎉"];

/// Longest poll question, in characters.
pub const MAX_POLL_QUESTION_CHARS: usize = 300;

/// Longest answer of a poll, in characters.
pub const MAX_POLL_OPTION_CHARS: usize = 100;

/// Fewest and most answers a poll offers.
pub const POLL_OPTIONS: std::ops::RangeInclusive<usize> = 2..=10;

/// A hand, a reaction or a vote ([`ApplicationKind::Interaction`](crate::ApplicationKind)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Interaction {
    /// The sender's hand is up, or down again. A member whose hand is up says so again when
    /// someone joins, since a newcomer cannot read what was said before.
    Hand {
        /// Up or down.
        raised: bool,
    },
    /// A moderator (as the room policy names them) lowers a member's hand.
    LowerHand {
        /// The member's leaf.
        leaf: u32,
    },
    /// A short-lived reaction: one of [`REACTIONS`].
    Reaction {
        /// The emoji.
        emoji: String,
    },
    /// A member in a breakout room asks the moderators for help.
    Help {
        /// The room's index in the open plan.
        room: u8,
    },
    /// A vote: a [`Ballot`] sealed with HPKE to the poll's creator.
    Vote {
        /// Which poll.
        poll: PollRef,
        /// The sealed [`Ballot`].
        sealed: Bytes,
    },
}

/// A poll, named by its creator's leaf and the number the creator gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollRef {
    /// The creator's leaf.
    pub creator: u32,
    /// The creator's number for it.
    pub id: u64,
}

/// A member's answer to a poll, which only the poll's creator opens. A later ballot replaces
/// an earlier one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ballot {
    /// The chosen answers, by index: one, or (a multiple-choice poll) one or more.
    pub choices: Vec<u8>,
}

/// A poll's opening, results or end ([`ApplicationKind::Poll`](crate::ApplicationKind)),
/// always from its creator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PollMessage {
    /// A new poll. Said again while it is open when someone joins.
    Open(Poll),
    /// The results so far (or final, once closed).
    Results {
        /// The creator's number for the poll.
        id: u64,
        /// To everyone, or sealed to each moderator.
        results: PublishedResults,
    },
    /// The poll takes no more votes.
    Close {
        /// The creator's number for the poll.
        id: u64,
    },
}

/// A poll's question and rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    /// The creator's number for it.
    pub id: u64,
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
}

impl Poll {
    /// Whether a client shows the poll: a question and 2 to 10 distinct answers, each within
    /// its length.
    pub fn is_acceptable(&self) -> bool {
        let fits = |text: &str, max: usize| {
            let chars = text.trim().chars().count();
            chars > 0 && text.chars().count() <= max
        };
        let distinct = self
            .options
            .iter()
            .enumerate()
            .all(|(i, option)| !self.options[..i].contains(option));
        fits(&self.question, MAX_POLL_QUESTION_CHARS)
            && POLL_OPTIONS.contains(&self.options.len())
            && self
                .options
                .iter()
                .all(|option| fits(option, MAX_POLL_OPTION_CHARS))
            && distinct
    }

    /// Whether a ballot answers this poll: one answer (or, if multiple, one or more), each
    /// once and each an answer the poll has.
    pub fn accepts(&self, ballot: &Ballot) -> bool {
        let count = ballot.choices.len();
        let in_range = ballot
            .choices
            .iter()
            .all(|&choice| usize::from(choice) < self.options.len());
        let once = ballot
            .choices
            .iter()
            .enumerate()
            .all(|(i, choice)| !ballot.choices[..i].contains(choice));
        let how_many = if self.multiple {
            count >= 1
        } else {
            count == 1
        };
        how_many && in_range && once
    }
}

/// Who sees a poll's results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultsFor {
    /// Every member.
    Everyone,
    /// The moderators the room policy names (and the creator, who counts them).
    Moderators,
}

/// Results as the creator publishes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case", deny_unknown_fields)]
pub enum PublishedResults {
    /// For every member to read.
    Everyone {
        /// The results.
        results: PollResults,
    },
    /// One copy of the [`PollResults`] sealed with HPKE to each moderator's leaf.
    Moderators {
        /// The sealed copies.
        sealed: Vec<SealedCopy>,
    },
}

/// One member's sealed copy of something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedCopy {
    /// The member's leaf.
    pub leaf: u32,
    /// The copy, sealed to it.
    pub sealed: Bytes,
}

/// A poll's count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollResults {
    /// Votes for each answer, in the poll's order.
    pub counts: Vec<u32>,
    /// Members who voted.
    pub voters: u32,
    /// In a named poll, the leaves of those who chose each answer; empty when anonymous.
    pub named: Vec<Vec<u32>>,
    /// The poll is closed: these are the final results.
    pub closed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(options: &[&str], multiple: bool) -> Poll {
        Poll {
            id: 1,
            question: "Lunch?".into(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            multiple,
            anonymous: true,
            results_for: ResultsFor::Everyone,
        }
    }

    #[test]
    fn a_poll_needs_a_question_and_two_to_ten_distinct_answers() {
        assert!(poll(&["yes", "no"], false).is_acceptable());
        assert!(!poll(&["yes"], false).is_acceptable());
        assert!(!poll(&["yes", "yes"], false).is_acceptable());
        assert!(!poll(&["yes", " "], false).is_acceptable());
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        assert!(!poll(&eleven, false).is_acceptable());
        let mut long = poll(&["yes", "no"], false);
        long.question = "?".repeat(MAX_POLL_QUESTION_CHARS + 1);
        assert!(!long.is_acceptable());
    }

    #[test]
    fn a_ballot_answers_with_existing_answers_each_once() {
        let ballot = |choices: &[u8]| Ballot {
            choices: choices.to_vec(),
        };
        let single = poll(&["a", "b", "c"], false);
        assert!(single.accepts(&ballot(&[2])));
        assert!(!single.accepts(&ballot(&[0, 1])));
        assert!(!single.accepts(&ballot(&[])));
        assert!(!single.accepts(&ballot(&[3])));
        let multiple = poll(&["a", "b", "c"], true);
        assert!(multiple.accepts(&ballot(&[0, 2])));
        assert!(!multiple.accepts(&ballot(&[0, 0])));
        assert!(!multiple.accepts(&ballot(&[])));
    }
}
