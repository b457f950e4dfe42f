//! What the encrypted-file store (`blobs`) and the recording store (`recordings`) do alike over
//! HTTP: stream a request body into a file (cut off when it stalls or runs past its limit, or
//! when what it is written for goes), stream a file out as a response, read `?offset=`, check
//! that a blob token's holder is in its room, and answer a refusal in JSON. Each store maps
//! these onto its own errors, so its API keeps its own codes and messages.

use std::{
    io,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::{Body, BodyDataStream, Bytes},
    extract::{Query, rejection::QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::{AppState, accounts::api_error, blob_store::Holder, room::Room, storage::AuditAction};

/// A body that sends nothing for this long is cut off: a stalled upload holds its quota.
const BODY_STALL: Duration = Duration::from_secs(60);

/// Bytes read from a stored file at a time for a download.
const READ_CHUNK: usize = 64 * 1024;

/// Why a body could not be moved between a request and a file; each store turns it into its
/// own refusal (`From`).
#[derive(Debug)]
pub(crate) enum TransferError {
    /// The body broke off, or stalled for [`BODY_STALL`].
    Truncated,
    /// The file, or what it was written for, is gone.
    Gone,
    /// The file system failed.
    Io(io::Error),
}

/// Why a blob token's holder may not use its room's stores now.
#[derive(Debug)]
pub(crate) enum NotInRoom {
    /// It left, or its room ended.
    Unauthorized,
    /// It waits in the lobby.
    NotAdmitted,
}

/// A body's next chunk; one that breaks off, or stalls for [`BODY_STALL`], is cut short.
pub(crate) async fn next_chunk(
    chunks: &mut BodyDataStream,
) -> Result<Option<Bytes>, TransferError> {
    match tokio::time::timeout(BODY_STALL, chunks.next()).await {
        Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
        Ok(None) => Ok(None),
        Ok(Some(Err(_))) | Err(_) => Err(TransferError::Truncated),
    }
}

/// Writes `prefix` (bytes already read from the body), then the rest of `chunks`, to `file`:
/// at most `limit` bytes in all, else `over`, and only while `exists` (a deletion meanwhile
/// stops the write). Returns how many bytes it had, flushed.
pub(crate) async fn write_body<E: From<TransferError>>(
    file: &mut tokio::fs::File,
    prefix: Bytes,
    chunks: &mut BodyDataStream,
    limit: u64,
    over: E,
    exists: impl Fn() -> bool,
) -> Result<u64, E> {
    let mut written = 0;
    let mut next = Some(prefix).filter(|p| !p.is_empty());
    loop {
        let chunk = match next.take() {
            Some(chunk) => chunk,
            None => match next_chunk(chunks).await? {
                Some(chunk) => chunk,
                None => break,
            },
        };
        written += chunk.len() as u64;
        if written > limit {
            return Err(over);
        }
        if !exists() {
            return Err(TransferError::Gone.into());
        }
        file.write_all(&chunk).await.map_err(TransferError::Io)?;
    }
    // Waits for the last write, and tells whether it failed.
    file.flush().await.map_err(TransferError::Io)?;
    Ok(written)
}

/// An error opening a stored file: one missing (deleted since) is [`TransferError::Gone`].
pub(crate) fn open_failed(error: io::Error) -> TransferError {
    match error.kind() {
        io::ErrorKind::NotFound => TransferError::Gone,
        _ => TransferError::Io(error),
    }
}

/// A download: the first `size` bytes of `file`, streamed, never cached.
pub(crate) fn file_response(size: u64, file: tokio::fs::File) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(size)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Body::from_stream(ReaderStream::with_capacity(file.take(size), READ_CHUNK)),
    )
        .into_response()
}

/// `?offset=`: where a part starts in its file.
#[derive(serde::Deserialize)]
pub(crate) struct PartAt {
    offset: u64,
}

/// The offset a part's `?offset=` gives, if it gives one.
pub(crate) fn part_offset(at: Result<Query<PartAt>, QueryRejection>) -> Option<u64> {
    at.ok().map(|Query(PartAt { offset })| offset)
}

/// A refusal's JSON answer; with `challenge`, the `WWW-Authenticate` scheme to retry with.
pub(crate) fn refusal(
    status: StatusCode,
    code: &str,
    message: &str,
    challenge: Option<&'static str>,
) -> Response {
    let mut response = api_error(status, code, message, None);
    if let Some(scheme) = challenge {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
    }
    response
}

/// Now, in Unix milliseconds, as the stores count time.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl AppState {
    /// Records `action` by `holder` in its room, returning once the record is on disk.
    pub(crate) async fn audit_holder(&self, action: AuditAction, holder: &Holder, detail: &str) {
        let participant = Some(holder.participant.as_str());
        self.audit(action, &holder.room, participant, Some(detail))
            .await;
    }

    /// Runs `f` on `holder`'s room while the holder is in it and admitted, under the rooms'
    /// lock (the caller takes its store's inside, the order [`crate::signalling::leave`]
    /// takes them): the holder cannot leave between the check and `f`.
    pub(crate) fn with_holders_room<T, E: From<NotInRoom>>(
        &self,
        holder: &Holder,
        f: impl FnOnce(&Room) -> Result<T, E>,
    ) -> Result<T, E> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let id = &holder.participant;
        let room = rooms
            .get(&holder.room)
            .filter(|r| r.contains(id))
            .ok_or(NotInRoom::Unauthorized)?;
        if !room.is_admitted(id) {
            return Err(NotInRoom::NotAdmitted.into());
        }
        f(room)
    }
}
