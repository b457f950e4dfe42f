//! Chat inside the group: messages to everyone, and private messages sealed with HPKE to one
//! member's private-message key (which only that member opens; the others learn that a private
//! message passed, not for whom). The server numbers every application message and keeps the
//! chat, still encrypted; a client that comes back asks for what followed the last number it
//! has, and nothing it handled is shown twice.

use std::collections::BTreeSet;

use sealroom_protocol::ParticipantId;

/// A chat message from a member, decrypted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChatEntry {
    /// Its number in the room (0 from a server that does not number).
    pub seq: u64,
    /// The sender's leaf.
    pub sender: u32,
    /// The sender's name, from its MLS credential (not from the server).
    pub sender_name: String,
    /// Sealed to us alone.
    pub private: bool,
    /// The words, shown as text.
    pub text: String,
    /// When the sender sent it, by its clock: milliseconds since the Unix epoch.
    pub sent_at: u64,
}

/// What the chat remembers between messages.
#[derive(Debug, Default)]
pub(crate) struct ChatState {
    /// Every message numbered up to this the client had before it came (back).
    had_up_to: u64,
    /// Numbers of the later messages handled, live or from the history.
    handled: BTreeSet<u64>,
    /// The ids this client had in the room: its own messages in the history are skipped.
    pub own_ids: Vec<ParticipantId>,
    /// The group of the catch-up our user asked for, until we are a member: only that group's
    /// numbering is the one the client holds (a room that emptied and filled again starts
    /// a new group, numbered afresh).
    pub catch_up_group: Option<Vec<u8>>,
    /// History messages we could not decrypt, counted until its last page.
    pub unreadable: u64,
    /// Private messages from other members that were not for us.
    pub not_for_us: u64,
}

impl ChatState {
    /// The client had every message up to `after` before it came (back).
    pub fn had_up_to(&mut self, after: u64) {
        self.had_up_to = self.had_up_to.max(after);
        self.handled.retain(|&seq| seq > after);
    }

    /// The number to catch up from in `group`, which we just entered; `None` if the client's
    /// numbers are another group's, now forgotten.
    pub fn catch_up_in(&mut self, group: &[u8]) -> Option<u64> {
        let asked = self.catch_up_group.take()?;
        if asked == group {
            return Some(self.had_up_to);
        }
        self.had_up_to = 0;
        self.handled.clear();
        None
    }

    /// Marks `seq` handled; false if it already was (0: unnumbered, always new).
    pub fn first_sight(&mut self, seq: u64) -> bool {
        seq == 0 || (seq > self.had_up_to && self.handled.insert(seq))
    }
}
