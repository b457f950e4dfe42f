//! What members' clients say in application messages of kind
//! [`ApplicationKind::Recording`](crate::ApplicationKind::Recording), which the room's
//! `recording` permission governs at the server: that a member records the meeting, for whom,
//! and that it stopped. The recording itself is made by that member's client, encrypted to its
//! owners' keys; these notices are how every participant knows it is being recorded.

use serde::{Deserialize, Serialize};

/// Characters of a recording id: 128 bits as lowercase hex.
pub const RECORDING_ID_CHARS: usize = 32;

/// Most owners one recording is encrypted to.
pub const MAX_RECORDING_OWNERS: usize = 16;

/// Characters of an owner key's fingerprint: lowercase hex.
const OWNER_FINGERPRINT_CHARS: std::ops::RangeInclusive<usize> = 16..=64;

/// A recording notice ([`ApplicationKind::Recording`](crate::ApplicationKind::Recording)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecordingNotice {
    /// The sender records, until it says `Stopped` or leaves the group; said again when
    /// someone joins, since a newcomer cannot read what was said before.
    Started {
        /// The recording's id (its store's name for it).
        id: String,
        /// Fingerprints of the keys the recording is encrypted to: only their holders can
        /// play it.
        owners: Vec<String>,
    },
    /// The sender's recording `id` ended.
    Stopped {
        /// The recording's id.
        id: String,
    },
}

impl RecordingNotice {
    /// What makes the notice one a client neither sends nor shows, if anything.
    pub fn check(&self) -> Result<(), &'static str> {
        let (id, owners) = match self {
            Self::Started { id, owners } => (id, owners.as_slice()),
            Self::Stopped { id } => (id, &[][..]),
        };
        if !is_hex(id, RECORDING_ID_CHARS..=RECORDING_ID_CHARS) {
            return Err("a recording id is 32 lowercase hex digits");
        }
        let started = matches!(self, Self::Started { .. });
        if started && !(1..=MAX_RECORDING_OWNERS).contains(&owners.len()) {
            return Err("a recording has 1 to 16 owners");
        }
        if !owners.iter().all(|o| is_hex(o, OWNER_FINGERPRINT_CHARS)) {
            return Err(
                "an owner is named by its key's fingerprint, 16 to 64 lowercase hex digits",
            );
        }
        Ok(())
    }
}

fn is_hex(text: &str, lengths: std::ops::RangeInclusive<usize>) -> bool {
    lengths.contains(&text.len()) && text.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(id: &str, owners: &[&str]) -> RecordingNotice {
        let owners = owners.iter().map(|o| (*o).to_owned()).collect();
        RecordingNotice::Started {
            id: id.into(),
            owners,
        }
    }

    #[test]
    fn ids_and_owners_are_checked() {
        let id = "0123456789abcdef0123456789abcdef";
        let owner = "00112233445566778899aabbccddeeff";
        assert_eq!(started(id, &[owner]).check(), Ok(()));
        assert!(started(id, &[]).check().is_err(), "no owner");
        assert!(started(&id[1..], &[owner]).check().is_err(), "short id");
        assert!(started(&id.to_uppercase(), &[owner]).check().is_err());
        assert!(started(id, &["<b>"]).check().is_err());
        assert!(
            started(id, &[owner; 17]).check().is_err(),
            "too many owners"
        );
        assert!(RecordingNotice::Stopped { id: "x".into() }.check().is_err());
    }
}
