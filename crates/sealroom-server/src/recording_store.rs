//! The bookkeeping of end-to-end encrypted meeting recordings, without I/O: which recordings
//! exist, who uploads each and how far it has come, whose keys own it, the owner-proof nonces
//! issued, and the limits. The HTTP layer (`recordings`) asks it before moving any byte
//! between a request and a file, and keeps its metadata on disk.
//!
//! A recording is made and encrypted by a client (`SRR1`, `sealroom_e2ee::recording`): the
//! server stores ciphertext under the id its header names, and never gets a key. Unlike a
//! room's files, a recording outlives its meeting: it belongs to the owners its header names,
//! who have no account here. An owner proves it holds an owner key by opening a challenge
//! sealed to that key; it then lists, downloads and deletes the recordings naming it.

use std::collections::HashMap;

use sealroom_e2ee::recording::{
    OWNER_NONCE_BYTES, RecordingError, RecordingHeader, RecordingOwnerPublic,
};
use sha2::{Digest, Sha256};

use crate::{blob_store::Holder, config::RecordingSettings};

/// A recording's id: its header's 16-byte id, 32 lowercase hex digits.
pub type RecordingId = String;

/// Owner-proof nonces held at once at most: past it, challenges are refused until some expire.
pub const MAX_NONCES: usize = 10_000;

const DAY_MS: u64 = 24 * 3600 * 1000;
const NONCE_LABEL: &[u8] = b"sealroom recording owner nonce";

/// What the server keeps of a recording, besides its bytes (in its sidecar file).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordingMeta {
    /// Its id.
    pub id: RecordingId,
    /// The room it was uploaded from.
    pub room: String,
    /// The participant that uploaded it.
    pub uploader: String,
    /// Its owners' public keys (text form), as its header names them.
    pub owners: Vec<String>,
    /// When its upload started, in Unix milliseconds.
    pub created_at: u64,
    /// Bytes stored.
    pub size: u64,
    /// Its uploader marked it complete.
    pub completed: bool,
}

/// A recording as its owners' list shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    /// Its id.
    pub id: RecordingId,
    /// The room it was uploaded from.
    pub room: String,
    /// When its upload started, in Unix milliseconds.
    pub created_at: u64,
    /// Its uploader marked it complete.
    pub completed: bool,
    /// Bytes stored.
    pub size: u64,
}

/// How many bytes a part may have, and what it is told past them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartLimit {
    /// At most this many.
    pub bytes: u64,
    /// The refusal for a part longer than `bytes`.
    pub over: RecordingStoreError,
}

/// Why a recording request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordingStoreError {
    /// No blob token, or one that no longer holds.
    #[error("no valid blob token: one comes with joining the room and ends on leaving it")]
    Unauthorized,
    /// No owner proof, or one that does not hold.
    #[error(
        "prove an owner key: POST /api/recordings/challenge, then Authorization: SealroomOwner \
         <public key>.<opened nonce> within 10 minutes"
    )]
    NotProven,
    /// The holder waits in the lobby.
    #[error("only participants in the meeting upload recordings")]
    NotAdmitted,
    /// The holder's role may not record in the room.
    #[error("your role may not record in this room")]
    NotPermitted,
    /// Not the recording's uploader.
    #[error("only the recording's uploader may do this")]
    NotUploader,
    /// No such recording for this owner (another's is not told apart).
    #[error("no such recording")]
    NotFound,
    /// A recording with the header's id is stored already.
    #[error("a recording with this id exists: a recorder makes a fresh id for each")]
    Exists,
    /// The first part does not start with a readable `SRR1` header.
    #[error("the body must start with a whole SRR1 recording header: {0}")]
    BadHeader(RecordingError),
    /// A request that cannot be read.
    #[error("{0}")]
    BadRequest(&'static str),
    /// A recording over the server's limit per recording.
    #[error("a recording may have at most {max} bytes: the upload stops here; complete it")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// A part over the server's limit per part.
    #[error("a part may have at most {max} bytes")]
    PartTooLong {
        /// The limit.
        max: u64,
    },
    /// The store's quota has no room for more.
    #[error("the server's recording store is full")]
    ServerFull,
    /// A body that broke off, or stalled, before its end.
    #[error("the body broke off before its end")]
    Truncated,
    /// A part that does not start where the recording's bytes end.
    #[error("the next part starts at offset {expected}")]
    WrongOffset {
        /// Where it starts.
        expected: u64,
    },
    /// Another part of the recording is being written.
    #[error("a part of this recording is being written")]
    Busy,
    /// The recording was marked complete.
    #[error("the recording is complete")]
    Complete,
    /// Too many challenges are outstanding.
    #[error("too many owner challenges are outstanding: try again in a few minutes")]
    TooManyChallenges,
    /// The server failed.
    #[error("the server could not store or read the recording")]
    Internal,
}

type Result<T> = std::result::Result<T, RecordingStoreError>;

struct Recording {
    meta: RecordingMeta,
    owners: Vec<RecordingOwnerPublic>,
    /// The bytes reserved for a part being written.
    writing: Option<u64>,
    /// Its files are being deleted: nobody sees it, its id is not free yet.
    deleting: bool,
}

impl Recording {
    fn owned_by(&self, owner: &RecordingOwnerPublic) -> bool {
        !self.deleting && self.owners.contains(owner)
    }

    fn uploaded_by(&self, holder: &Holder) -> bool {
        self.meta.room == holder.room.as_str() && self.meta.uploader == holder.participant.as_str()
    }
}

/// Every recording, and the owner proofs under way.
pub struct RecordingStore {
    limits: RecordingSettings,
    proof_ms: u64,
    recordings: HashMap<RecordingId, Recording>,
    /// Bytes of every recording stored.
    stored: u64,
    /// Bytes reserved for the parts being written.
    in_flight: u64,
    /// Issued nonces by their hash with their owner, with when they stop holding.
    nonces: HashMap<[u8; 32], u64>,
}

impl RecordingStore {
    /// Holds new uploads to `limits`, and every recording kept to its retention.
    pub fn set_limits(&mut self, limits: RecordingSettings) {
        self.limits = limits;
    }

    /// An empty store within `limits`.
    pub fn new(limits: RecordingSettings) -> Self {
        Self {
            limits,
            proof_ms: limits.owner_proof_secs.saturating_mul(1000),
            recordings: HashMap::new(),
            stored: 0,
            in_flight: 0,
            nonces: HashMap::new(),
        }
    }

    /// A recording read back from disk, incomplete or not; `false` (and nothing kept) for
    /// metadata that does not hold together.
    pub fn load(&mut self, meta: RecordingMeta) -> bool {
        let owners: Option<Vec<_>> = meta
            .owners
            .iter()
            .map(|text| RecordingOwnerPublic::parse(text).ok())
            .collect();
        let Some(owners) = owners.filter(|o| !o.is_empty()) else {
            return false;
        };
        if !is_recording_id(&meta.id) || self.recordings.contains_key(&meta.id) {
            return false;
        }
        self.stored += meta.size;
        self.recordings.insert(
            meta.id.clone(),
            Recording {
                meta,
                owners,
                writing: None,
                deleting: false,
            },
        );
        true
    }

    /// A new recording from the holder's room with `header`, at `now` (Unix milliseconds), its
    /// first part to be written now.
    pub fn create(
        &mut self,
        holder: &Holder,
        may_record: bool,
        header: &RecordingHeader,
        now: u64,
    ) -> Result<(RecordingMeta, PartLimit)> {
        if !may_record {
            return Err(RecordingStoreError::NotPermitted);
        }
        let id = hex::encode(header.recording_id);
        if self.recordings.contains_key(&id) {
            return Err(RecordingStoreError::Exists);
        }
        let meta = RecordingMeta {
            id: id.clone(),
            room: holder.room.to_string(),
            uploader: holder.participant.to_string(),
            owners: header.owners.iter().map(|o| o.to_base64url()).collect(),
            created_at: now,
            size: 0,
            completed: false,
        };
        let limit = self.part_limit(0)?;
        self.in_flight += limit.bytes;
        let recording = Recording {
            meta: meta.clone(),
            owners: header.owners.clone(),
            writing: Some(limit.bytes),
            deleting: false,
        };
        self.recordings.insert(id, recording);
        Ok((meta, limit))
    }

    /// The uploader's next part, at `offset`, is to be written now: how many bytes it may have.
    /// Until [`RecordingStore::part_written`] or [`RecordingStore::abort_part`], no other is.
    pub fn start_part(
        &mut self,
        id: &str,
        holder: &Holder,
        may_record: bool,
        offset: u64,
    ) -> Result<PartLimit> {
        let recording = self.uploaded(id, holder)?;
        if !may_record {
            return Err(RecordingStoreError::NotPermitted);
        }
        if recording.writing.is_some() {
            return Err(RecordingStoreError::Busy);
        }
        if recording.meta.completed {
            return Err(RecordingStoreError::Complete);
        }
        let size = recording.meta.size;
        if offset != size {
            return Err(RecordingStoreError::WrongOffset { expected: size });
        }
        let limit = self.part_limit(size)?;
        self.in_flight += limit.bytes;
        if let Some(recording) = self.recordings.get_mut(id) {
            recording.writing = Some(limit.bytes);
        }
        Ok(limit)
    }

    /// The part being written had `bytes` (at most what it was allowed): the metadata to keep.
    pub fn part_written(&mut self, id: &str, bytes: u64) -> Result<RecordingMeta> {
        self.release_part(id);
        let recording = self
            .recordings
            .get_mut(id)
            .filter(|r| !r.deleting)
            .ok_or(RecordingStoreError::NotFound)?;
        recording.meta.size += bytes;
        self.stored += bytes;
        Ok(recording.meta.clone())
    }

    /// The part being written failed: the recording keeps what it had before it.
    pub fn abort_part(&mut self, id: &str) {
        self.release_part(id);
    }

    /// Whether the recording is there and not being deleted: a part being written stops once
    /// it is not.
    pub fn exists(&self, id: &str) -> bool {
        self.recordings.get(id).is_some_and(|r| !r.deleting)
    }

    /// Its uploader marks the recording complete: the metadata to keep.
    pub fn complete(&mut self, id: &str, holder: &Holder) -> Result<RecordingMeta> {
        let recording = self.uploaded(id, holder)?;
        if recording.writing.is_some() {
            return Err(RecordingStoreError::Busy);
        }
        if recording.meta.completed {
            return Err(RecordingStoreError::Complete);
        }
        let recording = self
            .recordings
            .get_mut(id)
            .ok_or(RecordingStoreError::NotFound)?;
        recording.meta.completed = true;
        Ok(recording.meta.clone())
    }

    /// A nonce for a challenge to `owner` at `now`, kept (hashed) for the proof to come.
    pub fn issue_nonce(
        &mut self,
        owner: &RecordingOwnerPublic,
        now: u64,
    ) -> Result<[u8; OWNER_NONCE_BYTES]> {
        if self.nonces.len() >= MAX_NONCES {
            self.prune_nonces(now);
        }
        if self.nonces.len() >= MAX_NONCES {
            return Err(RecordingStoreError::TooManyChallenges);
        }
        let nonce: [u8; OWNER_NONCE_BYTES] = rand::random();
        let expires_at = now.saturating_add(self.proof_ms);
        self.nonces.insert(nonce_hash(owner, &nonce), expires_at);
        Ok(nonce)
    }

    /// Whether `nonce` was issued to `owner` and still holds at `now`.
    pub fn prove(
        &self,
        owner: &RecordingOwnerPublic,
        nonce: &[u8; OWNER_NONCE_BYTES],
        now: u64,
    ) -> Result<()> {
        match self.nonces.get(&nonce_hash(owner, nonce)) {
            Some(&expires_at) if now < expires_at => Ok(()),
            _ => Err(RecordingStoreError::NotProven),
        }
    }

    /// Forgets the nonces that no longer hold.
    pub fn prune_nonces(&mut self, now: u64) {
        self.nonces.retain(|_, expires_at| now < *expires_at);
    }

    /// The recordings `owner` owns at `now`, oldest first.
    pub fn list(&self, owner: &RecordingOwnerPublic, now: u64) -> Vec<Listed> {
        let mut listed: Vec<Listed> = self
            .recordings
            .values()
            .filter(|r| r.owned_by(owner) && !self.is_expired(r, now))
            .map(|r| Listed {
                id: r.meta.id.clone(),
                room: r.meta.room.clone(),
                created_at: r.meta.created_at,
                completed: r.meta.completed,
                size: r.meta.size,
            })
            .collect();
        listed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        listed
    }

    /// The bytes of an owner's recording to download now (a part being written is not yet).
    pub fn download(&self, id: &str, owner: &RecordingOwnerPublic, now: u64) -> Result<u64> {
        self.owned(id, owner, now).map(|r| r.meta.size)
    }

    /// An owner deletes a recording: hidden at once, its files to be deleted, then
    /// [`RecordingStore::deleted`].
    pub fn start_delete(
        &mut self,
        id: &str,
        owner: &RecordingOwnerPublic,
        now: u64,
    ) -> Result<RecordingMeta> {
        self.owned(id, owner, now)?;
        self.start_discard(id).ok_or(RecordingStoreError::NotFound)
    }

    /// The recording goes, whoever asks (a failed first part, retention): hidden at once, its
    /// files to be deleted, then [`RecordingStore::deleted`]. `None` if it is gone or going.
    pub fn start_discard(&mut self, id: &str) -> Option<RecordingMeta> {
        let recording = self.recordings.get_mut(id).filter(|r| !r.deleting)?;
        recording.deleting = true;
        Some(recording.meta.clone())
    }

    /// Recordings past their retention at `now`: being deleted from now on.
    pub fn start_expiry(&mut self, now: u64) -> Vec<RecordingMeta> {
        let expired: Vec<RecordingId> = self
            .recordings
            .iter()
            .filter(|(_, r)| !r.deleting && self.is_expired(r, now))
            .map(|(id, _)| id.clone())
            .collect();
        expired
            .iter()
            .filter_map(|id| self.start_discard(id))
            .collect()
    }

    /// The recording's files are deleted: its id and its bytes are free.
    pub fn deleted(&mut self, id: &str) {
        self.release_part(id);
        if let Some(recording) = self.recordings.remove(id) {
            self.stored -= recording.meta.size;
        }
    }

    /// Bytes of every recording stored, and reserved for the parts being written.
    pub fn stored_bytes(&self) -> u64 {
        self.stored + self.in_flight
    }

    fn is_expired(&self, recording: &Recording, now: u64) -> bool {
        let retention = self.limits.retention_days.saturating_mul(DAY_MS);
        now >= recording.meta.created_at.saturating_add(retention)
    }

    fn uploaded(&self, id: &str, holder: &Holder) -> Result<&Recording> {
        let recording = self
            .recordings
            .get(id)
            .filter(|r| !r.deleting && r.meta.room == holder.room.as_str())
            .ok_or(RecordingStoreError::NotFound)?;
        if !recording.uploaded_by(holder) {
            return Err(RecordingStoreError::NotUploader);
        }
        Ok(recording)
    }

    fn owned(&self, id: &str, owner: &RecordingOwnerPublic, now: u64) -> Result<&Recording> {
        self.recordings
            .get(id)
            .filter(|r| r.owned_by(owner) && !self.is_expired(r, now))
            .ok_or(RecordingStoreError::NotFound)
    }

    /// What a part after `size` bytes may have: the least of a part's, a recording's and the
    /// store's room left.
    fn part_limit(&self, size: u64) -> Result<PartLimit> {
        let limits = &self.limits;
        let recording_left = limits.max_bytes.saturating_sub(size);
        let server_left = limits
            .server_quota_bytes
            .saturating_sub(self.stored + self.in_flight);
        if recording_left == 0 {
            return Err(RecordingStoreError::TooLarge {
                max: limits.max_bytes,
            });
        }
        if server_left == 0 {
            return Err(RecordingStoreError::ServerFull);
        }
        let candidates = [
            (
                limits.max_part_bytes,
                RecordingStoreError::PartTooLong {
                    max: limits.max_part_bytes,
                },
            ),
            (
                recording_left,
                RecordingStoreError::TooLarge {
                    max: limits.max_bytes,
                },
            ),
            (server_left, RecordingStoreError::ServerFull),
        ];
        let (bytes, over) = candidates
            .into_iter()
            .min_by_key(|(bytes, _)| *bytes)
            .unwrap_or((0, RecordingStoreError::ServerFull));
        Ok(PartLimit { bytes, over })
    }

    fn release_part(&mut self, id: &str) {
        if let Some(reserved) = self.recordings.get_mut(id).and_then(|r| r.writing.take()) {
            self.in_flight -= reserved;
        }
    }
}

/// Whether `text` is a recording id: 32 lowercase hex digits (so a safe file name too).
pub fn is_recording_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What the store keeps of an issued nonce: nothing a memory dump could present.
fn nonce_hash(owner: &RecordingOwnerPublic, nonce: &[u8; OWNER_NONCE_BYTES]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(NONCE_LABEL);
    hash.update(owner.as_bytes());
    hash.update(nonce);
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use sealroom_e2ee::{RecordingEncryptor, RecordingOwnerKey, recording::read_header};

    use super::*;

    fn limits() -> RecordingSettings {
        RecordingSettings {
            max_bytes: 100,
            server_quota_bytes: 150,
            max_part_bytes: 40,
            retention_days: 1,
            owner_proof_secs: 1,
        }
    }

    fn owner() -> RecordingOwnerPublic {
        RecordingOwnerKey::generate().unwrap().public_key()
    }

    fn header(owners: &[RecordingOwnerPublic]) -> RecordingHeader {
        read_header(&RecordingEncryptor::new(owners).unwrap().1).unwrap()
    }

    /// A recording of one 40-byte part, at time 0.
    fn stored(store: &mut RecordingStore, by: &Holder, owners: &[RecordingOwnerPublic]) -> String {
        let (meta, limit) = store.create(by, true, &header(owners), 0).unwrap();
        store.part_written(&meta.id, limit.bytes).unwrap();
        meta.id
    }

    #[test]
    fn the_id_is_the_headers_and_a_second_upload_of_it_is_refused() {
        let mut store = RecordingStore::new(limits());
        let alice = Holder::in_room("r", "alice");
        let header = header(&[owner()]);
        assert_eq!(
            store.create(&alice, false, &header, 0),
            Err(RecordingStoreError::NotPermitted)
        );
        let (meta, limit) = store.create(&alice, true, &header, 0).unwrap();
        assert_eq!(meta.id, hex::encode(header.recording_id));
        assert_eq!(limit.bytes, 40);
        assert_eq!(
            store.create(&Holder::in_room("s", "bob"), true, &header, 0),
            Err(RecordingStoreError::Exists)
        );
    }

    #[test]
    fn parts_come_in_order_from_the_uploader_within_every_limit() {
        let mut store = RecordingStore::new(limits());
        let alice = Holder::in_room("r", "alice");
        let (meta, _) = store.create(&alice, true, &header(&[owner()]), 0).unwrap();
        let id = meta.id;
        assert_eq!(store.part_written(&id, 40).unwrap().size, 40);
        let bob = Holder::in_room("r", "bob");
        assert_eq!(
            store.start_part(&id, &bob, true, 40),
            Err(RecordingStoreError::NotUploader)
        );
        assert_eq!(
            store.start_part(&id, &alice, true, 0),
            Err(RecordingStoreError::WrongOffset { expected: 40 })
        );
        assert_eq!(store.start_part(&id, &alice, true, 40).unwrap().bytes, 40);
        assert_eq!(
            store.start_part(&id, &alice, true, 40),
            Err(RecordingStoreError::Busy)
        );
        store.abort_part(&id);
        assert_eq!(store.stored_bytes(), 40, "an aborted part takes nothing");
        store.start_part(&id, &alice, true, 40).unwrap();
        store.part_written(&id, 40).unwrap();
        let last = store.start_part(&id, &alice, true, 80).unwrap();
        assert_eq!(last.bytes, 20);
        assert_eq!(last.over, RecordingStoreError::TooLarge { max: 100 });
        store.part_written(&id, 20).unwrap();
        assert_eq!(
            store.start_part(&id, &alice, true, 100),
            Err(RecordingStoreError::TooLarge { max: 100 })
        );
        assert!(store.complete(&id, &alice).unwrap().completed);
        assert_eq!(
            store.complete(&id, &alice),
            Err(RecordingStoreError::Complete)
        );
        // The quota: 100 stored, 50 left, reserved as parts start.
        let (other, limit) = store.create(&bob, true, &header(&[owner()]), 0).unwrap();
        assert_eq!(limit.bytes, 40);
        let (third, limit) = store.create(&alice, true, &header(&[owner()]), 0).unwrap();
        assert_eq!(limit.bytes, 10);
        assert_eq!(limit.over, RecordingStoreError::ServerFull);
        assert_eq!(
            store.create(&alice, true, &header(&[owner()]), 0),
            Err(RecordingStoreError::ServerFull)
        );
        store.part_written(&other.id, 0).unwrap();
        store.part_written(&third.id, 0).unwrap();
        assert_eq!(store.stored_bytes(), 100);
    }

    #[test]
    fn only_an_owner_with_a_live_nonce_issued_to_its_key_proves() {
        let mut store = RecordingStore::new(limits());
        let (alice, mallory) = (owner(), owner());
        let nonce = store.issue_nonce(&alice, 0).unwrap();
        assert_eq!(store.prove(&alice, &nonce, 999), Ok(()));
        assert_eq!(
            store.prove(&alice, &nonce, 1000),
            Err(RecordingStoreError::NotProven)
        );
        assert_eq!(
            store.prove(&mallory, &nonce, 0),
            Err(RecordingStoreError::NotProven)
        );
        assert_eq!(
            store.prove(&alice, &[0; 32], 0),
            Err(RecordingStoreError::NotProven)
        );
        store.prune_nonces(1000);
        assert!(store.nonces.is_empty());
    }

    #[test]
    fn nonces_held_are_bounded() {
        let mut store = RecordingStore::new(limits());
        let alice = owner();
        for _ in 0..MAX_NONCES {
            store.issue_nonce(&alice, 0).unwrap();
        }
        assert_eq!(
            store.issue_nonce(&alice, 999),
            Err(RecordingStoreError::TooManyChallenges)
        );
        assert!(store.issue_nonce(&alice, 1000).is_ok(), "the expired go");
        assert_eq!(store.nonces.len(), 1);
    }

    #[test]
    fn owners_see_their_recordings_only_until_retention() {
        let mut store = RecordingStore::new(limits());
        let (alice, bob, mallory) = (owner(), owner(), owner());
        let uploader = Holder::in_room("r", "carol");
        let shared = stored(&mut store, &uploader, &[alice, bob]);
        let alices = stored(&mut store, &uploader, &[alice]);
        assert_eq!(store.list(&alice, 0).len(), 2);
        assert_eq!(store.list(&bob, 0)[0].id, shared);
        assert!(store.list(&mallory, 0).is_empty());
        assert_eq!(
            store.download(&alices, &bob, 0),
            Err(RecordingStoreError::NotFound)
        );
        assert_eq!(
            store.start_delete(&alices, &mallory, 0),
            Err(RecordingStoreError::NotFound)
        );
        assert_eq!(store.download(&alices, &alice, 0), Ok(40));
        store.start_delete(&alices, &alice, 0).unwrap();
        assert!(store.list(&alice, 0).len() == 1 && !store.exists(&alices));
        store.deleted(&alices);
        assert_eq!(store.stored_bytes(), 40);

        assert!(store.start_expiry(DAY_MS - 1).is_empty());
        assert!(store.list(&alice, DAY_MS).is_empty(), "before a sweep too");
        let expired = store.start_expiry(DAY_MS);
        assert_eq!(expired.len(), 1);
        store.deleted(&expired[0].id);
        assert_eq!(store.stored_bytes(), 0);
    }

    #[test]
    fn loaded_metadata_must_hold_together() {
        let mut store = RecordingStore::new(limits());
        let alice = owner();
        let meta = RecordingMeta {
            id: "0123456789abcdef0123456789abcdef".into(),
            room: "r".into(),
            uploader: "carol".into(),
            owners: vec![alice.to_base64url()],
            created_at: 0,
            size: 30,
            completed: false,
        };
        for bad in [
            RecordingMeta {
                id: "../../etc/passwd".into(),
                ..meta.clone()
            },
            RecordingMeta {
                owners: vec![],
                ..meta.clone()
            },
            RecordingMeta {
                owners: vec!["not a key".into()],
                ..meta.clone()
            },
        ] {
            assert!(!store.load(bad));
        }
        assert!(store.load(meta.clone()));
        assert!(!store.load(meta), "once");
        assert_eq!(store.list(&alice, 0)[0].size, 30);
        assert_eq!(store.stored_bytes(), 30);
    }
}
