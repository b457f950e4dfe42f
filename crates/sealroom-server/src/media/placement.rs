//! Which media thread (shard) carries which room.
//!
//! Every participant of a room must be on the same shard: the SFU forwards only within one
//! `Sfu`. A room goes to the shard with the fewest participants when its first participant
//! arrives and stays there until its last one leaves. Hashing room names would need no
//! state, but with few rooms it often puts two busy rooms on one core while another idles.

use std::collections::HashMap;

/// Where rooms and participants are; see the module documentation.
#[derive(Debug)]
pub(super) struct Placement {
    /// Participants placed per shard.
    load: Vec<usize>,
    /// A room's shard and how many of its participants are placed.
    rooms: HashMap<String, (usize, usize)>,
    /// A participant's room, by participant name.
    participants: HashMap<String, String>,
}

/// What [`Placement::place`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Placed {
    pub shard: usize,
    /// False if the participant was already placed (its media is being added again): a
    /// failure must not [`Placement::remove`] it then.
    pub new: bool,
}

impl Placement {
    pub fn new(shards: usize) -> Self {
        Placement {
            load: vec![0; shards.max(1)],
            rooms: HashMap::new(),
            participants: HashMap::new(),
        }
    }

    /// Places a participant in a room: on the room's shard, or for a new room the least
    /// loaded one. A participant already placed stays where it is.
    pub fn place(&mut self, room: &str, participant: &str) -> Placed {
        if let Some(shard) = self.shard_of(participant) {
            return Placed { shard, new: false };
        }
        let least_loaded = (0..self.load.len())
            .min_by_key(|&shard| self.load[shard])
            .unwrap_or(0);
        let (shard, members) = self
            .rooms
            .entry(room.to_owned())
            .or_insert((least_loaded, 0));
        *members += 1;
        let shard = *shard;
        self.load[shard] += 1;
        self.participants
            .insert(participant.to_owned(), room.to_owned());
        Placed { shard, new: true }
    }

    /// The shard a participant is on, if placed.
    pub fn shard_of(&self, participant: &str) -> Option<usize> {
        let room = self.participants.get(participant)?;
        self.rooms.get(room).map(|(shard, _)| *shard)
    }

    /// Forgets a participant; returns the shard it was on. Its room is forgotten with its
    /// last participant.
    pub fn remove(&mut self, participant: &str) -> Option<usize> {
        let room = self.participants.remove(participant)?;
        let (shard, members) = self.rooms.get_mut(&room)?;
        let shard = *shard;
        *members -= 1;
        if *members == 0 {
            self.rooms.remove(&room);
        }
        self.load[shard] -= 1;
        Some(shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_spread_over_shards_and_keep_their_members_together() {
        let mut placement = Placement::new(2);
        let a1 = placement.place("a", "a1");
        let b1 = placement.place("b", "b1");
        assert_ne!(a1.shard, b1.shard, "two rooms, two shards");
        assert_eq!(placement.place("a", "a2").shard, a1.shard);
        assert_eq!(placement.place("a", "a3").shard, a1.shard);
        // Shard of "a" carries 3, that of "b" 1: a new room goes to b's.
        assert_eq!(placement.place("c", "c1").shard, b1.shard);
    }

    #[test]
    fn a_room_is_forgotten_with_its_last_participant() {
        let mut placement = Placement::new(2);
        let first = placement.place("a", "a1").shard;
        placement.place("b", "b1");
        assert_eq!(placement.remove("a1"), Some(first));
        assert_eq!(placement.remove("a1"), None, "removed once");
        assert_eq!(placement.shard_of("a1"), None);
        // Both shards are equally loaded again; "a" is placed afresh (not necessarily on
        // its old shard) and counted from zero.
        let again = placement.place("a", "a2");
        assert!(again.new);
        assert_eq!(placement.remove("a2"), Some(again.shard));
    }

    #[test]
    fn placing_a_placed_participant_again_changes_nothing() {
        let mut placement = Placement::new(3);
        let first = placement.place("a", "a1");
        let again = placement.place("elsewhere", "a1");
        assert_eq!(
            again,
            Placed {
                shard: first.shard,
                new: false
            }
        );
        assert_eq!(placement.remove("a1"), Some(first.shard));
        assert_eq!(placement.load, vec![0, 0, 0]);
    }
}
