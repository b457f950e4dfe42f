//! Who records the meeting. A member's client that records says so in the group
//! ([`RecordingNotice`]), with the fingerprints of the keys the recording is encrypted to, and
//! says it again to newcomers; every core shows the recordings under way, named from the
//! recorder's MLS credential, until the recorder says it stopped or leaves the group. The
//! server enforces the room's `recording` permission on these notices; it cannot forge one.

use std::collections::BTreeMap;

use sealroom_e2ee::EpochChange;
use sealroom_protocol::{ApplicationKind, RecordingNotice, encode};

use crate::{CommandError, Output, Participant, ReceivedApplication, read_message};

/// A recording under way, as every member's core shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ActiveRecording {
    /// The recorder's leaf: a member of the group, in everyone's roster.
    pub leaf: u32,
    /// The recorder's name, from its MLS credential.
    pub recorder_name: String,
    /// The recording's id.
    pub id: String,
    /// Fingerprints of the keys that can open it.
    pub owners: Vec<String>,
    /// We record it.
    pub mine: bool,
}

/// The recordings under way in the group: one per recording member, by leaf.
#[derive(Debug, Default)]
pub(crate) struct RecordingState {
    by_leaf: BTreeMap<u32, (String, Vec<String>)>,
}

impl Participant {
    /// Our client starts recording `id`, encrypted to the keys whose fingerprints are `owners`:
    /// the group is told (the server refuses it unless the room lets our role record).
    pub fn start_recording(&mut self, id: &str, owners: Vec<String>) -> Result<(), CommandError> {
        let notice = RecordingNotice::Started {
            id: id.to_owned(),
            owners,
        };
        self.send_recording_notice(&notice)?;
        self.note_recording(self.own_leaf().ok_or(CommandError::NoGroup)?, notice);
        Ok(())
    }

    /// Our recording ended: the group is told.
    pub fn stop_recording(&mut self) -> Result<(), CommandError> {
        let own = self.own_leaf().ok_or(CommandError::NoGroup)?;
        let (id, _) = self
            .recording
            .by_leaf
            .get(&own)
            .ok_or(CommandError::NotRecording)?;
        let notice = RecordingNotice::Stopped { id: id.clone() };
        self.send_recording_notice(&notice)?;
        self.note_recording(own, notice);
        Ok(())
    }

    pub(crate) fn on_recording_notice(&mut self, received: &ReceivedApplication) {
        let notice = read_message::<RecordingNotice>(&received.data)
            .and_then(|n| n.check().map(|()| n).map_err(str::to_owned));
        match notice {
            Ok(notice) => self.note_recording(received.sender, notice),
            Err(e) => self.error(format!("recording: {e}")),
        }
    }

    /// A recorder who left records no more; newcomers hear of our recording.
    pub(crate) fn recordings_on_membership_change(&mut self, change: &EpochChange) {
        let before = self.recording.by_leaf.len();
        for member in &change.removed {
            self.recording.by_leaf.remove(&member.leaf_index);
        }
        if self.recording.by_leaf.len() != before {
            self.show_recordings();
        }
        let own = self.group.as_ref().map(|g| g.own_leaf_index());
        let ours = own
            .and_then(|leaf| self.recording.by_leaf.get(&leaf))
            .cloned();
        if let (Some((id, owners)), false) = (ours, change.added.is_empty()) {
            let notice = RecordingNotice::Started { id, owners };
            if let Err(e) = self.send_recording_notice(&notice) {
                self.error(format!("recording: {e}"));
            }
        }
    }

    fn note_recording(&mut self, leaf: u32, notice: RecordingNotice) {
        let changed = match notice {
            RecordingNotice::Started { id, owners } => {
                self.recording
                    .by_leaf
                    .insert(leaf, (id.clone(), owners.clone()))
                    != Some((id, owners))
            }
            RecordingNotice::Stopped { id } => {
                let theirs = self
                    .recording
                    .by_leaf
                    .get(&leaf)
                    .is_some_and(|(own, _)| *own == id);
                theirs && self.recording.by_leaf.remove(&leaf).is_some()
            }
        };
        if changed {
            self.show_recordings();
        }
    }

    fn show_recordings(&mut self) {
        let own = self.own_leaf();
        let recordings = self
            .recording
            .by_leaf
            .iter()
            .map(|(&leaf, (id, owners))| ActiveRecording {
                leaf,
                recorder_name: self.leaf_name(leaf),
                id: id.clone(),
                owners: owners.clone(),
                mine: own == Some(leaf),
            })
            .collect();
        self.outputs.push_back(Output::Recordings(recordings));
    }

    fn send_recording_notice(&mut self, notice: &RecordingNotice) -> Result<(), CommandError> {
        notice.check().map_err(CommandError::Recording)?;
        self.send_application(ApplicationKind::Recording, encode(notice).as_bytes())
    }
}
