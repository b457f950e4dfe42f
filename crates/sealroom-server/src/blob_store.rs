//! The bookkeeping of rooms' encrypted files (blobs), without I/O: whose blob tokens hold for
//! which room, which blobs exist, how far each upload has come, and the limits. The HTTP layer
//! (`blobs`) asks it before moving any byte between a request and a file.
//!
//! A client encrypts a file with a key of its own that reaches the other members inside the MLS
//! group: the server stores ciphertext under a random id, never a name or a key. A blob is seen
//! by participants of its room only, and goes when its lifetime is up or its room ends.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sealroom_protocol::{ParticipantId, RoomName};

use crate::{accounts::token_hash, config::FilesSettings};

/// A blob's id: 128 random bits, hex.
pub type BlobId = String;

/// The participant a blob token was issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its room.
    pub room: RoomName,
    /// Its id there.
    pub participant: ParticipantId,
}

#[cfg(test)]
impl Holder {
    /// `participant` in `room`, for the stores' tests.
    pub(crate) fn in_room(room: &str, participant: &str) -> Self {
        Self {
            room: RoomName::parse(room).unwrap(),
            participant: participant.into(),
        }
    }
}

/// What the holder's room lets it do at the time of a request (a moderator may change roles
/// and permissions during the meeting).
#[derive(Clone, Copy, Debug, Default)]
pub struct Rights {
    /// Its role may send files.
    pub send_files: bool,
    /// It moderates the room.
    pub moderates: bool,
}

/// A new blob.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reserved {
    /// Its id.
    pub id: BlobId,
    /// When it goes, in Unix milliseconds.
    pub expires_at: u64,
}

/// Why a blob request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// No token, or one that is unknown or no longer holds.
    #[error("no valid blob token: one comes with joining the room and ends on leaving it")]
    Unauthorized,
    /// The holder waits in the lobby.
    #[error("only participants in the meeting use its files")]
    NotAdmitted,
    /// The holder's role may not send files in the room.
    #[error("your role may not send files in this room")]
    NotPermitted,
    /// Neither the blob's uploader nor a moderator of its room.
    #[error("only the file's uploader or a moderator may do this")]
    NotUploader,
    /// No such blob in the holder's room (another room's is not told apart).
    #[error("no such file")]
    NotFound,
    /// An upload that declares no size.
    #[error(
        "declare the file's size: Content-Length, or Sealroom-Blob-Size with its parts to follow"
    )]
    LengthRequired,
    /// A request that cannot be read.
    #[error("{0}")]
    BadRequest(&'static str),
    /// A blob over the server's limit.
    #[error("a file may have at most {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// A blob the room's quota has no room for.
    #[error("the room's files would take more than its quota: delete some first")]
    OverQuota,
    /// A blob the server's quota has no room for.
    #[error("the server's file store is full")]
    ServerFull,
    /// A body longer than its blob's declared size, or than a part may be.
    #[error("the body is longer than declared, or than a part may be")]
    TooLong,
    /// A body that broke off, or stalled, before its end.
    #[error("the body broke off before its end")]
    Truncated,
    /// A part that does not start where the blob's bytes end.
    #[error("the next part starts at offset {expected}")]
    WrongOffset {
        /// Where it starts.
        expected: u64,
    },
    /// Another part of the blob is being written.
    #[error("a part of this file is being written")]
    Busy,
    /// A part for a blob that has all its bytes.
    #[error("the file is complete")]
    Complete,
    /// A download of a blob still being uploaded.
    #[error("the file is not completely uploaded yet")]
    Incomplete,
    /// The server failed.
    #[error("the server could not store or read the file")]
    Internal,
}

struct Blob {
    room: RoomName,
    uploader: ParticipantId,
    size: u64,
    received: u64,
    /// A part is being written.
    writing: bool,
    /// Unix milliseconds.
    expires_at: u64,
}

impl Blob {
    fn is_complete(&self) -> bool {
        self.received == self.size
    }

    /// Whether `holder` may know of it at `now`.
    fn is_visible(&self, holder: &Holder, now: u64) -> bool {
        self.room == holder.room && now < self.expires_at
    }
}

/// Every room's blobs and blob tokens.
pub struct BlobStore {
    limits: FilesSettings,
    /// By their tokens' SHA-256: the server keeps no token it could leak.
    holders: HashMap<[u8; 32], Holder>,
    blobs: HashMap<BlobId, Blob>,
    /// Each room's blobs' sizes, reserved in full from the start of their uploads.
    room_bytes: HashMap<RoomName, u64>,
    total_bytes: u64,
}

impl BlobStore {
    /// Holds what comes from now on to `limits` (files already stored keep their expiry).
    pub fn set_limits(&mut self, limits: FilesSettings) {
        self.limits = limits;
    }

    /// An empty store within `limits`.
    pub fn new(limits: FilesSettings) -> Self {
        Self {
            limits,
            holders: HashMap::new(),
            blobs: HashMap::new(),
            room_bytes: HashMap::new(),
            total_bytes: 0,
        }
    }

    /// A new blob token for `holder`: 256 random bits, base64url.
    pub fn issue(&mut self, holder: Holder) -> String {
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        self.holders.insert(token_hash(&token), holder);
        token
    }

    /// Whom `token` was issued to, while it holds.
    pub fn holder(&self, token: &str) -> Option<&Holder> {
        self.holders.get(&token_hash(token))
    }

    /// The participant left its room: its token ends, and so do its unfinished uploads, which
    /// nobody else may finish. Returns the blobs whose files to delete.
    pub fn participant_left(
        &mut self,
        room: &RoomName,
        participant: &ParticipantId,
    ) -> Vec<BlobId> {
        self.holders
            .retain(|_, h| !(h.room == *room && h.participant == *participant));
        self.remove_where(|b| b.room == *room && b.uploader == *participant && !b.is_complete())
    }

    /// The room ended: its tokens and blobs go. Returns the blobs whose files to delete.
    pub fn room_ended(&mut self, room: &RoomName) -> Vec<BlobId> {
        self.holders.retain(|_, h| h.room != *room);
        self.remove_where(|b| b.room == *room)
    }

    /// Blobs whose time is up at `now` go. Returns them, for their files to be deleted.
    pub fn expire(&mut self, now: u64) -> Vec<BlobId> {
        self.remove_where(|b| b.expires_at <= now)
    }

    /// A new blob of `size` bytes for the holder's room, at `now` (Unix milliseconds), its
    /// first part (the reserving request's body, perhaps empty) to be written now.
    pub fn reserve(
        &mut self,
        holder: &Holder,
        rights: Rights,
        size: u64,
        now: u64,
    ) -> Result<Reserved, BlobError> {
        if !rights.send_files {
            return Err(BlobError::NotPermitted);
        }
        let room_bytes = self.room_bytes.get(&holder.room).copied().unwrap_or(0);
        if size == 0 {
            return Err(BlobError::BadRequest("a file has at least one byte"));
        }
        if size > self.limits.max_blob_bytes {
            return Err(BlobError::TooLarge {
                max: self.limits.max_blob_bytes,
            });
        }
        if room_bytes + size > self.limits.room_quota_bytes {
            return Err(BlobError::OverQuota);
        }
        if self.total_bytes + size > self.limits.server_quota_bytes {
            return Err(BlobError::ServerFull);
        }
        let id: BlobId = hex::encode(rand::random::<[u8; 16]>());
        let expires_at = now.saturating_add(self.limits.lifetime_secs.saturating_mul(1000));
        self.blobs.insert(
            id.clone(),
            Blob {
                room: holder.room.clone(),
                uploader: holder.participant.clone(),
                size,
                received: 0,
                writing: true,
                expires_at,
            },
        );
        *self.room_bytes.entry(holder.room.clone()).or_default() += size;
        self.total_bytes += size;
        Ok(Reserved { id, expires_at })
    }

    /// The uploader's next part, at `offset`, is to be written now: returns how many bytes it
    /// may have. Until [`BlobStore::part_written`] or [`BlobStore::discard`], no other part is.
    pub fn start_part(
        &mut self,
        id: &BlobId,
        holder: &Holder,
        rights: Rights,
        offset: u64,
        now: u64,
    ) -> Result<u64, BlobError> {
        let max_part = self.limits.max_part_bytes;
        let blob = self
            .blobs
            .get_mut(id)
            .filter(|b| b.is_visible(holder, now))
            .ok_or(BlobError::NotFound)?;
        if blob.uploader != holder.participant {
            return Err(BlobError::NotUploader);
        }
        if !rights.send_files {
            return Err(BlobError::NotPermitted);
        }
        if blob.writing {
            return Err(BlobError::Busy);
        }
        if blob.is_complete() {
            return Err(BlobError::Complete);
        }
        if offset != blob.received {
            return Err(BlobError::WrongOffset {
                expected: blob.received,
            });
        }
        blob.writing = true;
        Ok((blob.size - blob.received).min(max_part))
    }

    /// Whether the blob is still there: a part being written stops once it is not (deleted,
    /// expired, or its room ended meanwhile).
    pub fn exists(&self, id: &BlobId) -> bool {
        self.blobs.contains_key(id)
    }

    /// The part being written had `bytes` (at most what [`BlobStore::start_part`] allowed):
    /// returns the blob's size if it is now complete.
    pub fn part_written(&mut self, id: &BlobId, bytes: u64) -> Result<Option<u64>, BlobError> {
        let blob = self.blobs.get_mut(id).ok_or(BlobError::NotFound)?;
        blob.writing = false;
        blob.received += bytes;
        Ok(blob.is_complete().then_some(blob.size))
    }

    /// A part failed (refused, broken off): the blob goes, with what it had, if it is still
    /// there.
    pub fn discard(&mut self, id: &BlobId) {
        self.remove(id);
    }

    /// The size of a blob to download: of the holder's room, complete, not expired.
    pub fn download(&self, id: &BlobId, holder: &Holder, now: u64) -> Result<u64, BlobError> {
        let blob = self
            .blobs
            .get(id)
            .filter(|b| b.is_visible(holder, now))
            .ok_or(BlobError::NotFound)?;
        if !blob.is_complete() {
            return Err(BlobError::Incomplete);
        }
        Ok(blob.size)
    }

    /// Its uploader or a moderator of its room deletes a blob (finished or not): returns the
    /// uploader.
    pub fn delete(
        &mut self,
        id: &BlobId,
        holder: &Holder,
        rights: Rights,
        now: u64,
    ) -> Result<ParticipantId, BlobError> {
        let blob = self
            .blobs
            .get(id)
            .filter(|b| b.is_visible(holder, now))
            .ok_or(BlobError::NotFound)?;
        if blob.uploader != holder.participant && !rights.moderates {
            return Err(BlobError::NotUploader);
        }
        self.remove(id)
            .map(|b| b.uploader)
            .ok_or(BlobError::NotFound)
    }

    /// Bytes of every blob, stored or reserved for an upload under way.
    pub fn stored_bytes(&self) -> u64 {
        self.total_bytes
    }

    fn remove_where(&mut self, goes: impl Fn(&Blob) -> bool) -> Vec<BlobId> {
        let gone: Vec<BlobId> = self
            .blobs
            .iter()
            .filter(|(_, blob)| goes(blob))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.remove(id);
        }
        gone
    }

    fn remove(&mut self, id: &BlobId) -> Option<Blob> {
        let blob = self.blobs.remove(id)?;
        self.total_bytes -= blob.size;
        if let Some(bytes) = self.room_bytes.get_mut(&blob.room) {
            *bytes -= blob.size;
            if *bytes == 0 {
                self.room_bytes.remove(&blob.room);
            }
        }
        Some(blob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENDER: Rights = Rights {
        send_files: true,
        moderates: false,
    };

    fn limits() -> FilesSettings {
        FilesSettings {
            max_blob_bytes: 100,
            room_quota_bytes: 150,
            server_quota_bytes: 200,
            max_part_bytes: 40,
            lifetime_secs: 10,
        }
    }

    /// A complete blob of `size` bytes, uploaded at time 0.
    fn stored(store: &mut BlobStore, by: &Holder, size: u64) -> BlobId {
        let id = store.reserve(by, SENDER, size, 0).unwrap().id;
        store.part_written(&id, size).unwrap();
        id
    }

    #[test]
    fn a_token_names_its_holder_until_it_leaves_or_the_room_ends() {
        let mut store = BlobStore::new(limits());
        let alice = Holder::in_room("r", "alice");
        let token = store.issue(alice.clone());
        let other_token = store.issue(Holder::in_room("other", "carol"));
        assert_eq!(store.holder(&token), Some(&alice));
        assert_eq!(store.holder("guessed"), None);
        store.participant_left(&alice.room, &alice.participant);
        assert_eq!(store.holder(&token), None);

        let bob = Holder::in_room("r", "bob");
        let token = store.issue(bob.clone());
        store.room_ended(&bob.room);
        assert_eq!(store.holder(&token), None);
        assert!(store.holder(&other_token).is_some());
    }

    #[test]
    fn sizes_are_bounded_per_blob_per_room_and_in_all() {
        let mut store = BlobStore::new(limits());
        let alice = Holder::in_room("r", "alice");
        let reserve = |store: &mut BlobStore, size| store.reserve(&alice, SENDER, size, 0);
        assert_eq!(
            reserve(&mut store, 101),
            Err(BlobError::TooLarge { max: 100 })
        );
        assert!(matches!(
            reserve(&mut store, 0),
            Err(BlobError::BadRequest(_))
        ));
        let first = stored(&mut store, &alice, 100);
        // Reserved counts in full, written or not.
        store.reserve(&alice, SENDER, 40, 0).unwrap();
        assert_eq!(reserve(&mut store, 11), Err(BlobError::OverQuota));
        stored(&mut store, &Holder::in_room("s", "bob"), 60);
        assert_eq!(reserve(&mut store, 1), Err(BlobError::ServerFull));
        assert_eq!(store.stored_bytes(), 200);
        store.delete(&first, &alice, SENDER, 0).unwrap();
        assert!(reserve(&mut store, 100).is_ok());
    }

    #[test]
    fn a_role_that_may_not_send_files_reserves_and_appends_nothing() {
        let mut store = BlobStore::new(limits());
        let alice = Holder::in_room("r", "alice");
        let none = Rights::default();
        assert_eq!(
            store.reserve(&alice, none, 10, 0),
            Err(BlobError::NotPermitted)
        );
        let id = store.reserve(&alice, SENDER, 80, 0).unwrap().id;
        store.part_written(&id, 40).unwrap();
        assert_eq!(
            store.start_part(&id, &alice, none, 40, 0),
            Err(BlobError::NotPermitted)
        );
    }

    #[test]
    fn parts_come_in_order_one_at_a_time_and_no_longer_than_allowed() {
        let mut store = BlobStore::new(limits());
        let alice = Holder::in_room("r", "alice");
        let id = store.reserve(&alice, SENDER, 90, 0).unwrap().id;
        // The reserving request's body is the first part: here, empty.
        assert_eq!(store.part_written(&id, 0), Ok(None));
        let part = |store: &mut BlobStore, offset| store.start_part(&id, &alice, SENDER, offset, 0);
        assert_eq!(
            part(&mut store, 40),
            Err(BlobError::WrongOffset { expected: 0 })
        );
        assert_eq!(part(&mut store, 0), Ok(40));
        assert_eq!(part(&mut store, 0), Err(BlobError::Busy));
        assert_eq!(store.part_written(&id, 40), Ok(None));
        assert_eq!(store.download(&id, &alice, 0), Err(BlobError::Incomplete));
        assert_eq!(part(&mut store, 40), Ok(40));
        store.part_written(&id, 40).unwrap();
        assert_eq!(part(&mut store, 80), Ok(10), "only what is left");
        assert_eq!(store.part_written(&id, 10), Ok(Some(90)));
        assert_eq!(part(&mut store, 90), Err(BlobError::Complete));
        assert_eq!(store.download(&id, &alice, 0), Ok(90));
        let bob = Holder::in_room("r", "bob");
        assert_eq!(
            store.start_part(&id, &bob, SENDER, 90, 0),
            Err(BlobError::NotUploader)
        );
    }

    #[test]
    fn another_room_sees_nothing_and_only_the_uploader_or_a_moderator_deletes() {
        let mut store = BlobStore::new(limits());
        let alice = Holder::in_room("r", "alice");
        let id = stored(&mut store, &alice, 10);
        let outsider = Holder::in_room("s", "mallory");
        assert_eq!(store.download(&id, &outsider, 0), Err(BlobError::NotFound));
        let moderator = Rights {
            send_files: true,
            moderates: true,
        };
        assert_eq!(
            store.delete(&id, &outsider, moderator, 0),
            Err(BlobError::NotFound)
        );
        let bob = Holder::in_room("r", "bob");
        assert_eq!(store.download(&id, &bob, 0), Ok(10));
        assert_eq!(
            store.delete(&id, &bob, SENDER, 0),
            Err(BlobError::NotUploader)
        );
        assert_eq!(store.delete(&id, &bob, moderator, 0), Ok("alice".into()));
        assert!(!store.exists(&id));
    }

    #[test]
    fn blobs_go_with_their_time_their_room_or_their_uploader_unfinished() {
        let mut store = BlobStore::new(limits());
        let alice = Holder::in_room("r", "alice");
        let finished = stored(&mut store, &alice, 10);
        let unfinished = store.reserve(&alice, SENDER, 10, 0).unwrap().id;
        let elsewhere = stored(&mut store, &Holder::in_room("s", "bob"), 10);
        assert_eq!(
            store.participant_left(&alice.room, &alice.participant),
            [unfinished],
            "a finished file stays for the others"
        );
        assert_eq!(store.room_ended(&alice.room), [finished]);
        assert_eq!(store.stored_bytes(), 10);

        let bob = Holder::in_room("s", "bob");
        assert_eq!(store.download(&elsewhere, &bob, 9_999), Ok(10));
        assert_eq!(
            store.download(&elsewhere, &bob, 10_000),
            Err(BlobError::NotFound),
            "expired, even before a sweep"
        );
        assert!(store.expire(9_999).is_empty());
        assert_eq!(store.expire(10_000), [elsewhere]);
        assert_eq!(store.stored_bytes(), 0);
    }

    #[test]
    fn a_failed_part_takes_its_blob_with_it() {
        let mut store = BlobStore::new(limits());
        let alice = Holder::in_room("r", "alice");
        let id = store.reserve(&alice, SENDER, 50, 0).unwrap().id;
        store.discard(&id);
        assert!(!store.exists(&id));
        assert_eq!(store.part_written(&id, 50), Err(BlobError::NotFound));
        assert_eq!(store.stored_bytes(), 0);
    }
}
