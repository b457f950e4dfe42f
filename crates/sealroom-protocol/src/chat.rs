//! What members' clients say to each other in application messages of kind
//! [`ApplicationKind::Chat`](crate::ApplicationKind::Chat), inside MLS (the server never reads
//! it), and how the server keeps those messages, still encrypted, for a client that comes back.

use serde::{Deserialize, Serialize};

use crate::{Bytes, ParticipantId};

/// Longest chat message, in characters: a client refuses to send or show a longer one.
pub const MAX_CHAT_TEXT_CHARS: usize = 4000;

/// A chat message, as the sender's client encodes it inside the MLS application message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChatMessage {
    /// To everyone in the group.
    Text(ChatText),
    /// To one member: a [`ChatText`] sealed with HPKE to that member's private-message key,
    /// which nobody else in the group can open. Who it is for is not said.
    Private {
        /// The sealed [`ChatText`].
        sealed: Bytes,
    },
}

/// The words of a chat message and when the sender wrote them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatText {
    /// Plain text, shown as text (never as markup); at most [`MAX_CHAT_TEXT_CHARS`].
    pub text: String,
    /// When the sender sent it, by the sender's clock: milliseconds since the Unix epoch.
    pub sent_at: u64,
}

impl ChatText {
    /// Whether the text is one a client shows: not empty, not over the limit.
    pub fn is_acceptable(&self) -> bool {
        let chars = self.text.chars().count();
        chars > 0 && chars <= MAX_CHAT_TEXT_CHARS
    }
}

/// An application message the server kept for the room's life, still encrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptMessage {
    /// Its number in the room: the numbers of a room's application messages only increase.
    pub number: u64,
    /// Who sent it, as the server saw it (the MLS sender is inside the encryption).
    pub from: ParticipantId,
    /// The MLS PrivateMessage, as it was relayed.
    pub message: Bytes,
}
