//! End-to-end encrypted meeting recordings over HTTP, at `/api/recordings`, kept in
//! `data_dir/recordings` past the meeting and restarts: the [`RecordingStore`] decides, this
//! moves the bytes, streamed both ways, and keeps each recording's metadata in a sidecar file
//! (`docs/recording-store.md` has the API).
//!
//! Uploads carry the participant's blob token (`Authorization: Bearer`) and need the room's
//! `recording` permission:
//! - `POST /api/recordings`: the first part, starting with the whole `SRR1` header, whose id
//!   becomes the recording's. `201 {"id"}`.
//! - `PUT /api/recordings/{id}?offset=K`: the next part (uploader only, in order). `204`.
//! - `POST /api/recordings/{id}/complete`. `204`.
//!
//! Owners have no account: `POST /api/recordings/challenge {"owner"}` seals a nonce to an owner
//! key, and `Authorization: SealroomOwner <key>.<nonce>` then lists (`GET /api/recordings`),
//! downloads (`GET /api/recordings/{id}`) and deletes (`DELETE`) that key's recordings.
//!
//! A failed first part takes its recording with it; a failed later part leaves the recording
//! as it was before the part (the next part starts at the same offset).
//!
//! Metadata lives in one JSON file per recording beside its ciphertext, replaced atomically
//! (written aside, synced, renamed): the two stay together when the directory is backed up,
//! moved or cleaned by hand, and the database's schema (whose migrations are shared with the
//! rest of the server) stays out of it.

use prometheus_client::metrics::gauge::Gauge;
use std::{
    io,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json,
    body::{Body, BodyDataStream, Bytes},
    extract::{ConnectInfo, FromRequestParts, Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sealroom_e2ee::recording::{
    OWNER_NONCE_BYTES, RecordingOwnerPublic, read_header, seal_owner_challenge,
};
use sealroom_protocol::RoomName;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::{
    AppState,
    accounts::api_error,
    blob_store::Holder,
    client_address::client_address,
    config::RecordingSettings,
    file_transfer::{
        NotInRoom, PartAt, TransferError, file_response, next_chunk, open_failed, part_offset,
        refusal, unix_ms, write_body,
    },
    rate_limit::{RateLimit, TokenBuckets},
    recording_store::{
        PartLimit, RecordingId, RecordingMeta, RecordingStore, RecordingStoreError, is_recording_id,
    },
    storage::AuditAction,
};

type Error = RecordingStoreError;

/// The scheme of an owner's proof in `Authorization`.
const OWNER_SCHEME: &str = "SealroomOwner";

/// The longest `SRR1` header: 16 owners.
const MAX_HEADER_BYTES: usize = 53 + 112 * 16;

/// Challenges per client address.
const CHALLENGES_PER_ADDRESS: RateLimit = RateLimit {
    burst: 20,
    per_minute: 20,
};

/// How often recordings past their retention are looked for (and once at start).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The recording store, the directory of its files, and the challenge rate limit.
pub(crate) struct Recordings {
    store: Mutex<RecordingStore>,
    dir: PathBuf,
    max_part_bytes: u64,
    /// Sidecar writes and file deletions, one at a time: a deletion is never undone by a
    /// sidecar written after it, and an id is free only once its files are gone.
    files: tokio::sync::Mutex<()>,
    challenges: Mutex<TokenBuckets<IpAddr>>,
    /// Kept at the store's [`RecordingStore::stored_bytes`].
    stored_bytes: Gauge,
}

impl Recordings {
    /// The store in `dir` (made, mode 0700), with every recording its sidecars describe:
    /// incomplete uploads stay incomplete; a file longer than its sidecar says (a part that
    /// was being written when the server stopped) is cut back; leftovers go.
    pub(crate) async fn open(
        dir: PathBuf,
        limits: RecordingSettings,
        stored_bytes: Gauge,
    ) -> io::Result<Self> {
        tokio::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .await?;
        let permissions = std::os::unix::fs::PermissionsExt::from_mode(0o700);
        tokio::fs::set_permissions(&dir, permissions).await?;
        let mut store = RecordingStore::new(limits);
        let kept = load_all(&dir, &mut store).await?;
        remove_leftovers(&dir, &kept).await?;
        stored_bytes.set(i64::try_from(store.stored_bytes()).unwrap_or(i64::MAX));
        Ok(Self {
            store: Mutex::new(store),
            dir,
            max_part_bytes: limits.max_part_bytes,
            files: tokio::sync::Mutex::new(()),
            challenges: Mutex::new(TokenBuckets::new(CHALLENGES_PER_ADDRESS)),
            stored_bytes,
        })
    }

    /// Holds recordings to `limits` (the organisation's settings changed).
    pub(crate) fn set_limits(&self, limits: RecordingSettings) {
        self.with_store(|store| store.set_limits(limits));
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut RecordingStore) -> T) -> T {
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut store);
        self.stored_bytes
            .set(i64::try_from(store.stored_bytes()).unwrap_or(i64::MAX));
        out
    }

    /// Only ever for an id the store holds (32 hex digits): no request's text becomes a path.
    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.srr"))
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Replaces the recording's sidecar with `meta`, atomically, unless it is being deleted.
    async fn save(&self, meta: &RecordingMeta) -> Result<(), Error> {
        let _files = self.files.lock().await;
        if !self.with_store(|store| store.exists(&meta.id)) {
            return Ok(());
        }
        let json = serde_json::to_vec(meta).map_err(|_| Error::Internal)?;
        let aside = self.dir.join(format!("{}.json.tmp", meta.id));
        let mut file = tokio::fs::File::create(&aside).await.map_err(failed)?;
        file.write_all(&json).await.map_err(failed)?;
        file.sync_all().await.map_err(failed)?;
        tokio::fs::rename(&aside, self.meta_path(&meta.id))
            .await
            .map_err(failed)?;
        let dir = tokio::fs::File::open(&self.dir).await.map_err(failed)?;
        dir.sync_all().await.map_err(failed)
    }

    /// Deletes the files of a recording the store is deleting, then frees its id.
    async fn remove(&self, id: &str) {
        let _files = self.files.lock().await;
        for path in [self.path(id), self.meta_path(id)] {
            match tokio::fs::remove_file(&path).await {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    tracing::error!(%error, path = %path.display(), "recording file not deleted");
                }
                _ => {}
            }
        }
        self.with_store(|store| store.deleted(id));
    }

    /// A failed first part's recording goes; from a destructor, so in the background.
    fn discard(self: &Arc<Self>, id: &str) {
        if self.with_store(|store| store.start_discard(id)).is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (recordings, id) = (self.clone(), id.to_owned());
        runtime.spawn(async move { recordings.remove(&id).await });
    }

    /// Writes a part at `offset` (what the recording has; 0 makes the file): `prefix`, then
    /// the rest of `chunks`, at most `limit.bytes` in all, while the recording exists. Returns
    /// how many bytes it had, on disk.
    async fn write_part(
        &self,
        id: &str,
        offset: u64,
        prefix: Bytes,
        chunks: &mut BodyDataStream,
        limit: &PartLimit,
    ) -> Result<u64, Error> {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(offset == 0)
            .open(self.path(id))
            .await
            .map_err(open_failed)?;
        // Whatever a failed part left past the recording's end goes.
        file.set_len(offset).await.map_err(failed)?;
        file.seek(io::SeekFrom::Start(offset))
            .await
            .map_err(failed)?;
        let exists = || self.with_store(|store| store.exists(id));
        let over = limit.over.clone();
        let written = write_body(&mut file, prefix, chunks, limit.bytes, over, exists).await?;
        file.sync_data().await.map_err(failed)?;
        Ok(written)
    }
}

/// Reads every sidecar in `dir` into `store`: the ids kept.
async fn load_all(dir: &std::path::Path, store: &mut RecordingStore) -> io::Result<Vec<String>> {
    let mut kept = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".json").filter(|id| is_recording_id(id)) else {
            continue;
        };
        let loaded = load_one(dir, id).await.is_some_and(|meta| store.load(meta));
        if loaded {
            kept.push(id.to_owned());
        } else {
            tracing::warn!(recording = id, "unreadable recording metadata: removed");
        }
    }
    Ok(kept)
}

/// One recording's sidecar, its file cut back to the size the sidecar says.
async fn load_one(dir: &std::path::Path, id: &str) -> Option<RecordingMeta> {
    let json = tokio::fs::read(dir.join(format!("{id}.json"))).await.ok()?;
    let mut meta: RecordingMeta = serde_json::from_slice(&json).ok()?;
    if meta.id != id {
        return None;
    }
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(format!("{id}.srr")))
        .await
        .ok()?;
    let len = file.metadata().await.ok()?.len();
    meta.size = meta.size.min(len);
    file.set_len(meta.size).await.ok()?;
    Some(meta)
}

/// Deletes every file in `dir` that is not a kept recording's (temporary sidecars, files
/// whose sidecar is gone or unreadable).
async fn remove_leftovers(dir: &std::path::Path, kept: &[String]) -> io::Result<()> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let id = name
            .strip_suffix(".json")
            .or_else(|| name.strip_suffix(".srr"));
        if id.is_some_and(|id| kept.iter().any(|k| k == id)) {
            continue;
        }
        tracing::warn!(file = %name, "leftover in the recordings directory: removed");
        tokio::fs::remove_file(entry.path()).await?;
    }
    Ok(())
}

/// A recording file the file system failed on: logged, and refused as the server's fault.
fn failed(error: io::Error) -> Error {
    TransferError::Io(error).into()
}

/// A recording's bytes that could not be moved: the part or download is refused.
impl From<TransferError> for RecordingStoreError {
    fn from(error: TransferError) -> Self {
        match error {
            TransferError::Truncated => Self::Truncated,
            TransferError::Gone => Self::NotFound,
            TransferError::Io(error) => {
                tracing::error!(%error, "recording file");
                Self::Internal
            }
        }
    }
}

/// A holder no longer in its room, or not yet admitted, uploads nothing.
impl From<NotInRoom> for RecordingStoreError {
    fn from(refusal: NotInRoom) -> Self {
        match refusal {
            NotInRoom::Unauthorized => Self::Unauthorized,
            NotInRoom::NotAdmitted => Self::NotAdmitted,
        }
    }
}

impl IntoResponse for RecordingStoreError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::NotProven => (StatusCode::UNAUTHORIZED, "owner_unauthorized"),
            Error::NotAdmitted => (StatusCode::FORBIDDEN, "not_admitted"),
            Error::NotPermitted | Error::NotUploader => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Error::Exists => (StatusCode::CONFLICT, "exists"),
            Error::BadHeader(_) => (StatusCode::BAD_REQUEST, "bad_header"),
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::Truncated => (StatusCode::BAD_REQUEST, "truncated"),
            Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Error::PartTooLong { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "part_too_long"),
            Error::ServerFull => (StatusCode::PAYLOAD_TOO_LARGE, "server_full"),
            Error::WrongOffset { .. } => (StatusCode::CONFLICT, "wrong_offset"),
            Error::Busy => (StatusCode::CONFLICT, "busy"),
            Error::Complete => (StatusCode::CONFLICT, "complete"),
            Error::TooManyChallenges => (StatusCode::SERVICE_UNAVAILABLE, "too_many_challenges"),
            Error::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let challenge = match self {
            Error::Unauthorized => Some("Bearer"),
            Error::NotProven => Some(OWNER_SCHEME),
            _ => None,
        };
        refusal(status, code, &self.to_string(), challenge)
    }
}

impl AppState {
    /// Runs `f` on the store with whether `holder`'s role may record in its room now, under
    /// the rooms' lock and then the store's: the holder is in the room and admitted.
    fn with_recording_rights<T>(
        &self,
        holder: &Holder,
        f: impl FnOnce(&mut RecordingStore, bool) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.with_holders_room(holder, |room| {
            let may_record = room.may_record(&holder.participant);
            self.recordings.with_store(|store| f(store, may_record))
        })
    }
}

/// The answer to a refused upload; one the room's permissions refused is recorded first.
async fn refused(state: &AppState, holder: &Holder, error: Error) -> Response {
    if error == Error::NotPermitted {
        state
            .audit_holder(AuditAction::PermissionRefused, holder, "what=record")
            .await;
    }
    error.into_response()
}

/// Records `action` on a recording in the room it came from.
async fn audit(state: &AppState, action: AuditAction, meta: &RecordingMeta, by: Option<&str>) {
    let Some(room) = RoomName::parse(&meta.room) else {
        return;
    };
    let detail = match action {
        AuditAction::RecordingCreated => {
            let owners: Vec<String> = meta
                .owners
                .iter()
                .filter_map(|o| RecordingOwnerPublic::parse(o).ok())
                .map(|o| o.fingerprint())
                .collect();
            format!("recording={} owners={}", meta.id, owners.join(","))
        }
        AuditAction::RecordingCompleted => format!("recording={} bytes={}", meta.id, meta.size),
        _ => format!("recording={} by={}", meta.id, by.unwrap_or("retention")),
    };
    let participant = match action {
        AuditAction::RecordingDeleted => None,
        _ => Some(meta.uploader.as_str()),
    };
    state.audit(action, &room, participant, Some(&detail)).await;
}

/// A part being received: unless it is written in full, a first part takes its recording
/// with it, a later one leaves the recording as it was.
struct PartUnderWay {
    state: Arc<AppState>,
    id: RecordingId,
    first: bool,
    written: bool,
}

impl Drop for PartUnderWay {
    fn drop(&mut self) {
        if self.written {
            return;
        }
        let recordings = &self.state.recordings;
        if self.first {
            recordings.discard(&self.id);
        } else {
            recordings.with_store(|store| store.abort_part(&self.id));
        }
    }
}

/// Refuses a body whose declared length is over `max`.
fn check_declared(headers: &HeaderMap, max: u64, over: Error) -> Result<(), Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > max => Err(over),
        _ => Ok(()),
    }
}

/// `POST /api/recordings`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    holder: Holder,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match create_recording(&state, &holder, &headers, body).await {
        Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
        Err(error) => refused(&state, &holder, error).await,
    }
}

async fn create_recording(
    state: &Arc<AppState>,
    holder: &Holder,
    headers: &HeaderMap,
    body: Body,
) -> Result<RecordingId, Error> {
    // Refused before a byte of the body is read.
    state.with_recording_rights(holder, |_, may| {
        may.then_some(()).ok_or(Error::NotPermitted)
    })?;
    let max_part = state.recordings.max_part_bytes;
    check_declared(headers, max_part, Error::PartTooLong { max: max_part })?;
    let mut chunks = body.into_data_stream();
    let first = read_header_bytes(&mut chunks).await?;
    let header = read_header(&first).map_err(Error::BadHeader)?;
    let (meta, limit) = state.with_recording_rights(holder, |store, may| {
        store.create(holder, may, &header, unix_ms())
    })?;
    let mut part = PartUnderWay {
        state: state.clone(),
        id: meta.id.clone(),
        first: true,
        written: false,
    };
    check_declared(headers, limit.bytes, limit.over.clone())?;
    state.recordings.save(&meta).await?;
    let recordings = &state.recordings;
    let bytes = recordings
        .write_part(&meta.id, 0, first, &mut chunks, &limit)
        .await?;
    let meta = recordings.with_store(|store| store.part_written(&meta.id, bytes))?;
    part.written = true;
    recordings.save(&meta).await?;
    audit(state, AuditAction::RecordingCreated, &meta, None).await;
    Ok(meta.id)
}

/// The body's first bytes, until they hold the longest header or the body ends.
async fn read_header_bytes(chunks: &mut BodyDataStream) -> Result<Bytes, Error> {
    let mut first = Vec::new();
    while first.len() < MAX_HEADER_BYTES {
        match next_chunk(chunks).await? {
            Some(chunk) => first.extend_from_slice(&chunk),
            None => break,
        }
    }
    Ok(Bytes::from(first))
}

/// `PUT /api/recordings/{id}?offset=K`.
pub(crate) async fn append(
    State(state): State<Arc<AppState>>,
    holder: Holder,
    Path(id): Path<String>,
    at: Result<Query<PartAt>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(offset) = part_offset(at) else {
        let error = Error::BadRequest("give the part's offset in the recording: ?offset=");
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
    id: &str,
    offset: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), Error> {
    let max_part = state.recordings.max_part_bytes;
    check_declared(headers, max_part, Error::PartTooLong { max: max_part })?;
    let limit = state.with_recording_rights(holder, |store, may| {
        store.start_part(id, holder, may, offset)
    })?;
    let mut part = PartUnderWay {
        state: state.clone(),
        id: id.to_owned(),
        first: false,
        written: false,
    };
    check_declared(headers, limit.bytes, limit.over.clone())?;
    let mut chunks = body.into_data_stream();
    let recordings = &state.recordings;
    let bytes = recordings
        .write_part(id, offset, Bytes::new(), &mut chunks, &limit)
        .await?;
    let meta = recordings.with_store(|store| store.part_written(id, bytes))?;
    part.written = true;
    recordings.save(&meta).await
}

/// `POST /api/recordings/{id}/complete`: by its uploader.
pub(crate) async fn complete(
    State(state): State<Arc<AppState>>,
    holder: Holder,
    Path(id): Path<String>,
) -> Response {
    let completed = state.with_recording_rights(&holder, |store, _| store.complete(&id, &holder));
    let saved = match completed {
        Ok(meta) => state.recordings.save(&meta).await.map(|()| meta),
        Err(error) => Err(error),
    };
    match saved {
        Ok(meta) => {
            audit(&state, AuditAction::RecordingCompleted, &meta, None).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => refused(&state, &holder, error).await,
    }
}

/// An owner key whose holder proved it: `Authorization: SealroomOwner <key>.<nonce>`, the
/// nonce one the server sealed to that key, not expired.
pub(crate) struct Owner(RecordingOwnerPublic);

impl FromRequestParts<Arc<AppState>> for Owner {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let (owner, nonce) =
            owner_proof(&parts.headers).ok_or_else(|| Error::NotProven.into_response())?;
        state
            .recordings
            .with_store(|store| store.prove(&owner, &nonce, unix_ms()))
            .map_err(IntoResponse::into_response)?;
        Ok(Self(owner))
    }
}

/// The key and nonce an owner's `Authorization` presents.
fn owner_proof(headers: &HeaderMap) -> Option<(RecordingOwnerPublic, [u8; OWNER_NONCE_BYTES])> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, proof) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case(OWNER_SCHEME) {
        return None;
    }
    let (key, nonce) = proof.trim().split_once('.')?;
    let owner = RecordingOwnerPublic::parse(key).ok()?;
    let nonce = URL_SAFE_NO_PAD.decode(nonce).ok()?.try_into().ok()?;
    Some((owner, nonce))
}

/// `POST /api/recordings/challenge`'s body.
#[derive(serde::Deserialize)]
struct ChallengeRequest {
    owner: String,
}

/// `POST /api/recordings/challenge {"owner"}`: a nonce sealed to that key, `{"challenge"}`.
pub(crate) async fn challenge(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let address = client_address(peer.ip(), &headers, &state.trusted_proxies);
    let limited = state
        .recordings
        .challenges
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take(&address, Instant::now());
    if let Err(limited) = limited {
        let message = "too many challenges from this address: try again later";
        let status = StatusCode::TOO_MANY_REQUESTS;
        return api_error(status, "rate_limited", message, Some(limited.wait));
    }
    match issue_challenge(&state, &body) {
        Ok(sealed) => Json(serde_json::json!({ "challenge": sealed })).into_response(),
        Err(error) => error.into_response(),
    }
}

fn issue_challenge(state: &AppState, body: &[u8]) -> Result<String, Error> {
    let request: ChallengeRequest = serde_json::from_slice(body)
        .map_err(|_| Error::BadRequest("the body is {\"owner\": \"<public key>\"}"))?;
    let owner = RecordingOwnerPublic::parse(&request.owner)
        .map_err(|_| Error::BadRequest("not a recording owner public key"))?;
    let nonce = state
        .recordings
        .with_store(|store| store.issue_nonce(&owner, unix_ms()))?;
    let sealed = seal_owner_challenge(&owner, &nonce).map_err(|_| Error::Internal)?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

/// `GET /api/recordings`: the proven owner's recordings.
pub(crate) async fn list(State(state): State<Arc<AppState>>, Owner(owner): Owner) -> Response {
    let listed = state
        .recordings
        .with_store(|store| store.list(&owner, unix_ms()));
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(listed),
    )
        .into_response()
}

/// `GET /api/recordings/{id}`: an owner's recording, its bytes so far.
pub(crate) async fn download(
    State(state): State<Arc<AppState>>,
    Owner(owner): Owner,
    Path(id): Path<String>,
) -> Response {
    match open_recording(&state, &owner, &id).await {
        Ok((size, file)) => file_response(size, file),
        Err(error) => error.into_response(),
    }
}

async fn open_recording(
    state: &AppState,
    owner: &RecordingOwnerPublic,
    id: &str,
) -> Result<(u64, tokio::fs::File), Error> {
    let recordings = &state.recordings;
    let size = recordings.with_store(|store| store.download(id, owner, unix_ms()))?;
    let file = tokio::fs::File::open(recordings.path(id))
        .await
        .map_err(open_failed)?;
    Ok((size, file))
}

/// `DELETE /api/recordings/{id}`: by an owner (recorded).
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Owner(owner): Owner,
    Path(id): Path<String>,
) -> Response {
    let recordings = &state.recordings;
    match recordings.with_store(|store| store.start_delete(&id, &owner, unix_ms())) {
        Ok(meta) => {
            recordings.remove(&id).await;
            let by = format!("owner:{}", owner.fingerprint());
            audit(&state, AuditAction::RecordingDeleted, &meta, Some(&by)).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// Deletes recordings past their retention, at start and every [`SWEEP_EVERY`], and forgets
/// expired nonces and refilled rate-limit buckets.
pub(crate) async fn sweep(state: Arc<AppState>) {
    let mut interval = tokio::time::interval(SWEEP_EVERY);
    loop {
        interval.tick().await;
        let recordings = &state.recordings;
        let expired = recordings.with_store(|store| {
            store.prune_nonces(unix_ms());
            store.start_expiry(unix_ms())
        });
        recordings
            .challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .prune(Instant::now());
        for meta in expired {
            recordings.remove(&meta.id).await;
            audit(&state, AuditAction::RecordingDeleted, &meta, None).await;
        }
    }
}
