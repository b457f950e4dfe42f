//! Files shared in the group. The sender's client encrypts a file under a fresh key
//! (`sealroom_e2ee::file_crypto`) and uploads only the ciphertext to the server's blob store;
//! this core sends the offer — the blob's id, the file's name, size and type, its key and
//! SHA-256 — inside MLS as [`ApplicationKind::File`], which the room's `files` permission
//! governs at the server. A receiving core checks the offer and names its sender from the MLS
//! credential; downloading and decrypting are the caller's.

use sealroom_protocol::{ApplicationKind, FileOffer, encode};

use crate::{CommandError, Output, Participant, ReceivedApplication, read_message};

/// A file a member offered, the offer checked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileEntry {
    /// Its number in the room (0 from a server that does not number).
    pub seq: u64,
    /// The sender's leaf.
    pub sender: u32,
    /// The sender's name, from its MLS credential (not from the server).
    pub sender_name: String,
    /// Where the encrypted file is, what it is, and what opens and checks it.
    pub offer: FileOffer,
}

impl Participant {
    /// Our user shares a file whose ciphertext is uploaded as the blob `offer.blob`: the offer
    /// goes to the group. Refused unless every member's core would take it.
    pub fn send_file_offer(&mut self, offer: FileOffer) -> Result<(), CommandError> {
        offer.check().map_err(CommandError::FileOffer)?;
        self.send_application(ApplicationKind::File, encode(&offer).as_bytes())
    }

    /// A member's file offer: shown if it is one a client would send.
    pub(crate) fn on_file_offer(&mut self, received: &ReceivedApplication, seq: u64) {
        let offer = read_message::<FileOffer>(&received.data)
            .and_then(|offer| offer.check().map(|()| offer).map_err(str::to_owned));
        match offer {
            Ok(offer) => {
                let entry = FileEntry {
                    seq,
                    sender: received.sender,
                    sender_name: self.name_at_leaf(received.sender).unwrap_or("").to_owned(),
                    offer,
                };
                self.outputs.push_back(Output::File(entry));
            }
            Err(e) => self.error(format!("file: {e}")),
        }
    }
}
