//! A room's chat, kept by the server for the room's life exactly as it was relayed: MLS
//! ciphertext the server cannot read, each numbered, so a client that reconnects or reloads
//! asks for what came after the last number it has and sees nothing twice. Bounded: past
//! [`KEPT_MESSAGES`] messages or [`KEPT_BYTES`] bytes the oldest go first.

use std::collections::VecDeque;

use sealroom_protocol::{Bytes, KeptMessage, ParticipantId};

/// Most messages a room keeps.
pub const KEPT_MESSAGES: usize = 10_000;
/// Most ciphertext bytes a room keeps.
pub const KEPT_BYTES: usize = 32 * 1024 * 1024;
/// Most ciphertext bytes in one answer: a page stays well inside a signalling message.
const PAGE_BYTES: usize = 256 * 1024;

/// The numbered application messages of one room.
#[derive(Debug, Default)]
pub struct KeptMessages {
    last_seq: u64,
    kept: VecDeque<KeptMessage>,
    bytes: usize,
}

impl KeptMessages {
    /// The number of the next application message of the room (kept or not).
    pub fn number(&mut self) -> u64 {
        self.last_seq += 1;
        self.last_seq
    }

    /// Keeps a message numbered by [`KeptMessages::number`].
    pub fn keep(&mut self, seq: u64, from: &ParticipantId, message: &[u8]) {
        self.bytes += message.len();
        self.kept.push_back(KeptMessage {
            number: seq,
            from: from.clone(),
            message: Bytes(message.to_vec()),
        });
        while self.kept.len() > KEPT_MESSAGES || self.bytes > KEPT_BYTES {
            let Some(oldest) = self.kept.pop_front() else {
                break;
            };
            self.bytes -= oldest.message.0.len();
        }
    }

    /// The kept messages numbered after `after`, oldest first, one page of them; and whether
    /// more follow.
    pub fn after(&self, after: u64) -> (Vec<KeptMessage>, bool) {
        let start = self.kept.partition_point(|m| m.number <= after);
        let mut page = Vec::new();
        let mut bytes = 0;
        for message in self.kept.range(start..) {
            // Always at least one, so a single large message still goes out.
            if !page.is_empty() && bytes + message.message.0.len() > PAGE_BYTES {
                return (page, true);
            }
            bytes += message.message.0.len();
            page.push(message.clone());
        }
        (page, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept_with(count: usize, size: usize) -> KeptMessages {
        let mut kept = KeptMessages::default();
        for _ in 0..count {
            let seq = kept.number();
            kept.keep(seq, &"p1".to_string(), &vec![0; size]);
        }
        kept
    }

    #[test]
    fn a_client_gets_exactly_what_came_after_its_last_number() {
        let mut kept = kept_with(5, 10);
        // An unkept message (control) still takes a number.
        assert_eq!(kept.number(), 6);
        let (page, more) = kept.after(3);
        assert_eq!(page.iter().map(|m| m.number).collect::<Vec<_>>(), [4, 5]);
        assert!(!more);
        assert!(kept.after(6).0.is_empty());
    }

    #[test]
    fn pages_stay_small_and_every_message_comes_once() {
        let kept = kept_with(40, 20 * 1024);
        let mut after = 0;
        let mut seen = Vec::new();
        loop {
            let (page, more) = kept.after(after);
            let bytes: usize = page.iter().map(|m| m.message.0.len()).sum();
            assert!(bytes <= PAGE_BYTES);
            seen.extend(page.iter().map(|m| m.number));
            after = page.last().map_or(after, |m| m.number);
            if !more {
                break;
            }
        }
        assert_eq!(seen, (1..=40).collect::<Vec<_>>());
    }

    #[test]
    fn the_oldest_go_first_past_the_bounds() {
        let kept = kept_with(KEPT_MESSAGES + 3, 1);
        let (page, _) = kept.after(0);
        assert_eq!(page.first().map(|m| m.number), Some(4));
        let kept = kept_with(3, KEPT_BYTES / 2);
        assert_eq!(kept.after(0).0.first().map(|m| m.number), Some(2));
    }
}
