//! Breakout rooms: what a moderator's client tells the members in application messages of kind
//! [`ApplicationKind::Breakout`](crate::ApplicationKind::Breakout), which only moderators may
//! send (the server enforces the role, every member's core the room policy). A plan names each
//! breakout room's server room and carries its room link's secret, inside MLS: the server
//! learns which rooms exist and who joins them, never the links, so each breakout room is its
//! own encrypted group, founded by whoever comes first with its link, with its own security
//! code and its own chat. Members keep their place in the main room's group while away, so the
//! moderator's broadcasts and the call back reach every breakout room.

use serde::{Deserialize, Serialize};

use crate::RoomName;

/// Most breakout rooms one plan opens.
pub const MAX_BREAKOUT_ROOMS: usize = 20;

/// Longest breakout room label, in characters.
pub const MAX_BREAKOUT_LABEL_CHARS: usize = 40;

/// Longest broadcast to the breakout rooms, in characters.
pub const MAX_BROADCAST_CHARS: usize = 1000;

/// Characters of a room link's secret: 128 bits in base64url without padding.
const LINK_SECRET_CHARS: usize = 22;

/// A moderator's word about the breakout rooms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BreakoutMessage {
    /// The breakout rooms are open: go to yours (or choose one). Said again to newcomers
    /// while they are open.
    Open(BreakoutPlan),
    /// A message to everyone, whichever room they are in.
    Broadcast {
        /// Plain text.
        text: String,
    },
    /// The breakout rooms are closed: everyone comes back to the main room.
    Close {
        /// The plan closed.
        id: u64,
    },
}

/// The breakout rooms and who goes where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakoutPlan {
    /// The moderator's number for this plan.
    pub id: u64,
    /// The rooms, in order: an assignment names a room by its index here.
    pub rooms: Vec<BreakoutRoom>,
    /// Who is sent where, by MLS leaf.
    pub assignments: Vec<Assignment>,
    /// Members without an assignment choose a room themselves.
    pub choose: bool,
    /// When the moderator means to call everyone back (ms since the Unix epoch), if set.
    pub ends_at: Option<u64>,
}

/// One breakout room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakoutRoom {
    /// What people call it ("Room 1"), plain text.
    pub label: String,
    /// The server's name for it.
    pub room: String,
    /// Its room link's secret: who holds it is let into its encrypted group.
    pub link: String,
}

/// A member sent to a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// The member's leaf in the main room's group.
    pub leaf: u32,
    /// The room's index in the plan.
    pub room: u8,
}

impl BreakoutMessage {
    /// What makes the message one a client neither sends nor shows, if anything.
    pub fn check(&self) -> Result<(), &'static str> {
        match self {
            Self::Open(plan) => plan.check(),
            Self::Broadcast { text } => is_text(text, MAX_BROADCAST_CHARS)
                .then_some(())
                .ok_or("a broadcast has 1 to 1000 characters, no control characters but new lines"),
            Self::Close { .. } => Ok(()),
        }
    }
}

impl BreakoutPlan {
    fn check(&self) -> Result<(), &'static str> {
        if !(1..=MAX_BREAKOUT_ROOMS).contains(&self.rooms.len()) {
            return Err("a plan opens 1 to 20 breakout rooms");
        }
        if !self.rooms.iter().all(BreakoutRoom::is_acceptable) {
            return Err(
                "a breakout room has a label of 1 to 40 characters, a valid room name and a \
                 link secret of 22 base64url characters",
            );
        }
        let mut rooms: Vec<&str> = self.rooms.iter().map(|r| r.room.as_str()).collect();
        rooms.sort_unstable();
        rooms.dedup();
        if rooms.len() != self.rooms.len() {
            return Err("two breakout rooms have the same room name");
        }
        let mut leaves: Vec<u32> = self.assignments.iter().map(|a| a.leaf).collect();
        leaves.sort_unstable();
        leaves.dedup();
        if leaves.len() != self.assignments.len() {
            return Err("a member is assigned twice");
        }
        let in_plan = |a: &Assignment| usize::from(a.room) < self.rooms.len();
        if !self.assignments.iter().all(in_plan) {
            return Err("an assignment names a room the plan does not have");
        }
        Ok(())
    }
}

impl BreakoutRoom {
    fn is_acceptable(&self) -> bool {
        let link_ok = self.link.len() == LINK_SECRET_CHARS
            && self
                .link
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        is_text(&self.label, MAX_BREAKOUT_LABEL_CHARS)
            && !self.label.contains('\n')
            && RoomName::parse(&self.room).is_some()
            && link_ok
    }
}

/// 1 to `max` characters, not all blank, no control characters but new lines.
fn is_text(text: &str, max: usize) -> bool {
    let chars = text.chars().count();
    (1..=max).contains(&chars)
        && !text.trim().is_empty()
        && !text.chars().any(|c| c.is_control() && c != '\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(label: &str, room: &str) -> BreakoutRoom {
        BreakoutRoom {
            label: label.into(),
            room: room.into(),
            link: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        }
    }

    fn plan(rooms: Vec<BreakoutRoom>, assignments: Vec<(u32, u8)>) -> BreakoutMessage {
        let assignments = assignments
            .into_iter()
            .map(|(leaf, room)| Assignment { leaf, room })
            .collect();
        BreakoutMessage::Open(BreakoutPlan {
            id: 1,
            rooms,
            assignments,
            choose: false,
            ends_at: None,
        })
    }

    #[test]
    fn plans_are_checked() {
        let two = || vec![room("Room 1", "main-b1"), room("Room 2", "main-b2")];
        assert_eq!(plan(two(), vec![(0, 0), (1, 1)]).check(), Ok(()));
        assert!(plan(vec![], vec![]).check().is_err(), "no room");
        assert!(plan(two(), vec![(0, 2)]).check().is_err(), "no such room");
        assert!(
            plan(two(), vec![(0, 0), (0, 1)]).check().is_err(),
            "assigned twice"
        );
        let same = vec![room("A", "main-b1"), room("B", "main-b1")];
        assert!(plan(same, vec![]).check().is_err(), "one server room twice");
        assert!(plan(vec![room("", "main-b1")], vec![]).check().is_err());
        assert!(plan(vec![room("A", "Main B1")], vec![]).check().is_err());
        let mut short = room("A", "main-b1");
        short.link.pop();
        assert!(plan(vec![short], vec![]).check().is_err());
    }

    #[test]
    fn broadcasts_are_text() {
        let broadcast = |text: &str| BreakoutMessage::Broadcast { text: text.into() };
        assert_eq!(broadcast("Five minutes left\nthen back").check(), Ok(()));
        assert!(broadcast(" ").check().is_err());
        assert!(broadcast("\u{7}").check().is_err());
        assert!(broadcast(&"x".repeat(1001)).check().is_err());
    }
}
