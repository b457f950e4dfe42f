//! Rooms' encrypted files over HTTP, at `/api/blobs`, kept as files in `data_dir/blobs`: the
//! [`BlobStore`] decides, this moves the bytes, streamed both ways (no blob, nor part, is ever
//! whole in memory). Every request carries the participant's blob token (`Authorization:
//! Bearer`, from [`ServerMessage::ResumeToken`](sealroom_protocol::ServerMessage)).
//!
//! - `POST /api/blobs` makes a blob of the size in `Sealroom-Blob-Size`, else in
//!   `Content-Length`, with the body as its first part: all of it in one request, or nothing
//!   (an empty body) when parts follow. `201 {"id", "expires_at"}` once the body is in.
//! - `PUT /api/blobs/{id}?offset=K` appends the next part (the uploader's, in order, one at a
//!   time, at most `files.max_part_bytes`): browsers cannot stream a request body over HTTP/1.1.
//!   `204` once it is in.
//! - `GET /api/blobs/{id}` streams a complete blob; `DELETE` deletes one (its uploader, or a
//!   moderator).
//!
//! A part refused once it has started (a body longer than allowed, one that breaks off, a blob
//! deleted meanwhile) takes its blob with it: the uploader starts again.

use std::{
    io,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{FromRequestParts, Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use prometheus_client::metrics::gauge::Gauge;
use sealroom_protocol::{ParticipantId, RoomName};

use crate::{
    AppState,
    blob_store::{BlobError, BlobId, BlobStore, Holder, Reserved, Rights},
    config::FilesSettings,
    file_transfer::{
        NotInRoom, PartAt, TransferError, file_response, open_failed, part_offset, refusal,
        unix_ms, write_body,
    },
    http_security::bearer_token,
    storage::AuditAction,
};

/// The header that declares a blob's size when its body does not carry it all.
const BLOB_SIZE: &str = "sealroom-blob-size";

/// The blob store and the directory of its files.
pub(crate) struct Blobs {
    store: Mutex<BlobStore>,
    dir: PathBuf,
    /// Kept at the store's [`BlobStore::stored_bytes`].
    stored_bytes: Gauge,
}

impl Blobs {
    /// The store in `dir`, emptied: blobs belong to rooms, which live in memory and so do not
    /// outlive the server.
    pub(crate) async fn open(
        dir: PathBuf,
        limits: FilesSettings,
        stored_bytes: Gauge,
    ) -> io::Result<Self> {
        match tokio::fs::remove_dir_all(&dir).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        tokio::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .await?;
        Ok(Self {
            store: Mutex::new(BlobStore::new(limits)),
            dir,
            stored_bytes,
        })
    }

    /// Holds files shared from now on to `limits` (the organisation's settings changed).
    pub(crate) fn set_limits(&self, limits: FilesSettings) {
        self.with_store(|store| store.set_limits(limits));
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut BlobStore) -> T) -> T {
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut store);
        self.stored_bytes
            .set(i64::try_from(store.stored_bytes()).unwrap_or(i64::MAX));
        out
    }

    /// A blob token for a participant that joined `room`.
    pub(crate) fn issue(&self, room: &RoomName, participant: &ParticipantId) -> String {
        self.with_store(|store| {
            store.issue(Holder {
                room: room.clone(),
                participant: participant.clone(),
            })
        })
    }

    /// The participant left `room`: its token ends, its unfinished uploads go.
    pub(crate) fn participant_left(&self, room: &RoomName, participant: &ParticipantId) {
        let gone = self.with_store(|store| store.participant_left(room, participant));
        self.delete_files(gone);
    }

    /// The room ended: its blobs go.
    pub(crate) fn room_ended(&self, room: &RoomName) {
        let gone = self.with_store(|store| store.room_ended(room));
        self.delete_files(gone);
    }

    /// Blobs whose time is up go.
    pub(crate) fn expire(&self) {
        let gone = self.with_store(|store| store.expire(unix_ms()));
        self.delete_files(gone);
    }

    /// A failed part's blob goes, and its file even if the blob went first (its room ended
    /// before the part made the file).
    fn discard(&self, id: &BlobId) {
        self.with_store(|store| store.discard(id));
        self.delete_files(vec![id.clone()]);
    }

    /// Deletes the files in the background: a large one takes a while, and callers hold locks.
    /// A runtime shutting down deletes nothing: the next start empties the directory.
    fn delete_files(&self, ids: Vec<BlobId>) {
        if ids.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let paths: Vec<PathBuf> = ids.iter().map(|id| self.path(id)).collect();
        runtime.spawn(async move {
            for path in paths {
                match tokio::fs::remove_file(&path).await {
                    Err(error) if error.kind() != io::ErrorKind::NotFound => {
                        tracing::error!(%error, path = %path.display(), "blob file not deleted");
                    }
                    _ => {}
                }
            }
        });
    }

    /// Only ever for an id the store gave: no request's text becomes a path.
    fn path(&self, id: &BlobId) -> PathBuf {
        self.dir.join(id)
    }

    /// Appends a body to the blob's file while the blob exists: at most `limit` bytes. Returns
    /// how many it had.
    async fn append(&self, id: &BlobId, body: Body, limit: u64) -> Result<u64, BlobError> {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(id))
            .await
            .map_err(TransferError::Io)?;
        let mut chunks = body.into_data_stream();
        let exists = || self.with_store(|store| store.exists(id));
        write_body(
            &mut file,
            Bytes::new(),
            &mut chunks,
            limit,
            BlobError::TooLong,
            exists,
        )
        .await
    }
}

/// A blob's bytes that could not be moved: the upload or download is refused.
impl From<TransferError> for BlobError {
    fn from(error: TransferError) -> Self {
        match error {
            TransferError::Truncated => Self::Truncated,
            TransferError::Gone => Self::NotFound,
            TransferError::Io(error) => {
                tracing::error!(%error, "blob file");
                Self::Internal
            }
        }
    }
}

/// A holder no longer in its room, or not yet admitted, uses none of its files.
impl From<NotInRoom> for BlobError {
    fn from(refusal: NotInRoom) -> Self {
        match refusal {
            NotInRoom::Unauthorized => Self::Unauthorized,
            NotInRoom::NotAdmitted => Self::NotAdmitted,
        }
    }
}

/// A request's blob token names its holder, or the request is refused (401).
impl FromRequestParts<Arc<AppState>> for Holder {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        bearer_token(&parts.headers)
            .and_then(|token| state.blobs.with_store(|store| store.holder(token).cloned()))
            .ok_or_else(|| BlobError::Unauthorized.into_response())
    }
}

impl IntoResponse for BlobError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            BlobError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            BlobError::NotAdmitted => (StatusCode::FORBIDDEN, "not_admitted"),
            BlobError::NotPermitted | BlobError::NotUploader => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            BlobError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            BlobError::LengthRequired => (StatusCode::LENGTH_REQUIRED, "length_required"),
            BlobError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            BlobError::Truncated => (StatusCode::BAD_REQUEST, "truncated"),
            BlobError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            BlobError::OverQuota => (StatusCode::PAYLOAD_TOO_LARGE, "room_quota"),
            BlobError::TooLong => (StatusCode::PAYLOAD_TOO_LARGE, "too_long"),
            BlobError::ServerFull => (StatusCode::INSUFFICIENT_STORAGE, "server_full"),
            BlobError::WrongOffset { .. } => (StatusCode::CONFLICT, "wrong_offset"),
            BlobError::Busy => (StatusCode::CONFLICT, "busy"),
            BlobError::Complete => (StatusCode::CONFLICT, "complete"),
            BlobError::Incomplete => (StatusCode::CONFLICT, "incomplete"),
            BlobError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let challenge = (status == StatusCode::UNAUTHORIZED).then_some("Bearer");
        refusal(status, code, &self.to_string(), challenge)
    }
}

impl AppState {
    /// Runs `f` on the store with what `holder`'s room lets it do now, under the rooms' lock
    /// and then the store's (the order [`crate::signalling::leave`] takes them): the holder
    /// cannot leave between the check and `f`.
    fn with_rights<T>(
        &self,
        holder: &Holder,
        f: impl FnOnce(&mut BlobStore, Rights) -> Result<T, BlobError>,
    ) -> Result<T, BlobError> {
        self.with_holders_room(holder, |room| {
            let id = &holder.participant;
            let rights = Rights {
                send_files: room.may_send_files(id),
                moderates: room.is_moderator(id),
            };
            self.blobs.with_store(|store| f(store, rights))
        })
    }
}

/// The answer to a refused request; one the room's permissions refused is recorded first, as
/// signalling's are.
async fn refused(state: &AppState, holder: &Holder, error: BlobError) -> Response {
    if error == BlobError::NotPermitted {
        state
            .audit_holder(AuditAction::PermissionRefused, holder, "what=send files")
            .await;
    }
    error.into_response()
}

/// `POST /api/blobs`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    holder: Holder,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match create_blob(&state, &holder, &headers, body).await {
        Ok(reserved) => (StatusCode::CREATED, Json(reserved)).into_response(),
        Err(error) => refused(&state, &holder, error).await,
    }
}

async fn create_blob(
    state: &Arc<AppState>,
    holder: &Holder,
    headers: &HeaderMap,
    body: Body,
) -> Result<Reserved, BlobError> {
    let size = match header_number(headers, BLOB_SIZE)? {
        Some(size) => size,
        None => header_number(headers, header::CONTENT_LENGTH.as_str())?
            .ok_or(BlobError::LengthRequired)?,
    };
    let reserved = state.with_rights(holder, |store, rights| {
        store.reserve(holder, rights, size, unix_ms())
    })?;
    receive_part(state, holder, &reserved.id, size, headers, body).await?;
    Ok(reserved)
}

/// `PUT /api/blobs/{id}?offset=K`.
pub(crate) async fn append(
    State(state): State<Arc<AppState>>,
    holder: Holder,
    Path(id): Path<BlobId>,
    at: Result<Query<PartAt>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(offset) = part_offset(at) else {
        let error = BlobError::BadRequest("give the part's offset in the file: ?offset=");
        return error.into_response();
    };
    match append_part(&state, &holder, &id, offset, &headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => refused(&state, &holder, error).await,
    }
}

async fn append_part(
    state: &Arc<AppState>,
    holder: &Holder,
    id: &BlobId,
    offset: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), BlobError> {
    let limit = state.with_rights(holder, |store, rights| {
        store.start_part(id, holder, rights, offset, unix_ms())
    })?;
    receive_part(state, holder, id, limit, headers, body).await
}

/// A part being received: unless it is written in full, its blob goes, whatever ended it (a
/// refusal, a broken body, the request dropped).
struct PartUnderWay {
    state: Arc<AppState>,
    id: BlobId,
    written: bool,
}

impl Drop for PartUnderWay {
    fn drop(&mut self) {
        if !self.written {
            self.state.blobs.discard(&self.id);
        }
    }
}

/// Writes the part a request carries, at most `limit` bytes, after what the blob has (the store
/// let it start). A blob it completes is recorded before the answer.
async fn receive_part(
    state: &Arc<AppState>,
    holder: &Holder,
    id: &BlobId,
    limit: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), BlobError> {
    let mut part = PartUnderWay {
        state: state.clone(),
        id: id.clone(),
        written: false,
    };
    if header_number(headers, header::CONTENT_LENGTH.as_str())?.is_some_and(|n| n > limit) {
        return Err(BlobError::TooLong);
    }
    let bytes = state.blobs.append(id, body, limit).await?;
    let completed = state
        .blobs
        .with_store(|store| store.part_written(id, bytes))?;
    part.written = true;
    if let Some(size) = completed {
        let detail = format!("blob={id} bytes={size}");
        state
            .audit_holder(AuditAction::BlobStored, holder, &detail)
            .await;
    }
    Ok(())
}

/// A header's number, if the request has the header.
fn header_number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, BlobError> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .ok_or(BlobError::BadRequest("a size header is not a number"))
        })
        .transpose()
}

/// `GET /api/blobs/{id}`.
pub(crate) async fn download(
    State(state): State<Arc<AppState>>,
    holder: Holder,
    Path(id): Path<BlobId>,
) -> Response {
    match open_blob(&state, &holder, &id).await {
        Ok((size, file)) => file_response(size, file),
        Err(error) => refused(&state, &holder, error).await,
    }
}

/// A complete blob's size and file, opened.
async fn open_blob(
    state: &AppState,
    holder: &Holder,
    id: &BlobId,
) -> Result<(u64, tokio::fs::File), BlobError> {
    let size = state.with_rights(holder, |store, _| store.download(id, holder, unix_ms()))?;
    let file = tokio::fs::File::open(state.blobs.path(id))
        .await
        .map_err(open_failed)?;
    Ok((size, file))
}

/// `DELETE /api/blobs/{id}`: by its uploader, or a moderator (recorded).
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    holder: Holder,
    Path(id): Path<BlobId>,
) -> Response {
    let deleted = state.with_rights(&holder, |store, rights| {
        store.delete(&id, &holder, rights, unix_ms())
    });
    match deleted {
        Ok(uploader) => {
            state.blobs.delete_files(vec![id.clone()]);
            let detail = format!("blob={id} uploader={uploader}");
            state
                .audit_holder(AuditAction::BlobDeleted, &holder, &detail)
                .await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => refused(&state, &holder, error).await,
    }
}
