//! Files shared end-to-end encrypted: the sender encrypts a file under a fresh key as it reads
//! it and uploads only ciphertext to the server's blob store, in parts, then offers it to the
//! group inside MLS (name, size, key, SHA-256); a receiver streams the blob through the
//! decryptor into a temporary file that becomes the file only once it checks out. Neither side
//! ever holds more than one upload part of a file in memory.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use http_body_util::{BodyExt, Full};
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    client::conn::http1::SendRequest,
    header,
};
use sealroom_e2ee::file_crypto::{
    FileCryptoError, FileDecryptor, FileEncryptor, FileKey, ciphertext_len,
};
use sealroom_protocol::FileOffer;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use crate::{
    http::Origin,
    session::{BlobAccess, FileEntry, RoomClient},
};

/// Largest upload part: the server's default `files.max_part_bytes`, and the most of a file
/// the sender holds in memory.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// Plaintext read from disk at a time.
const READ_BYTES: usize = 1024 * 1024;

/// Plaintext buffered before a write to disk.
const WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// The header that declares a blob's size when parts follow.
const BLOB_SIZE: &str = "sealroom-blob-size";

/// Why a file was not sent or not received.
#[derive(Debug, thiserror::Error)]
pub enum FileTransferError {
    /// Encrypting failed, or the download is not the file offered: there is no file.
    #[error(transparent)]
    Crypto(#[from] FileCryptoError),
    /// The local file could not be read or written.
    #[error("{0}")]
    Local(String),
    /// The blob store refused a request.
    #[error("the server refused ({status}, {code}): {message}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// The server's error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The connection to the blob store failed.
    #[error("blob store: {0}")]
    Http(String),
    /// The server has not given us a blob token yet.
    #[error("no blob token yet: we are not in the meeting")]
    NoToken,
    /// The offer could not be sent, or a received one is malformed.
    #[error("file offer: {0}")]
    Offer(String),
}

type Result<T> = std::result::Result<T, FileTransferError>;

fn http_error(error: impl std::fmt::Display) -> FileTransferError {
    FileTransferError::Http(error.to_string())
}

fn local_error(path: &Path) -> impl Fn(std::io::Error) -> FileTransferError + '_ {
    move |error| FileTransferError::Local(format!("{}: {error}", path.display()))
}

/// Megabytes (10^6 bytes) per second.
pub fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9)
}

/// A file sent: uploaded and offered.
#[derive(Clone, Debug)]
pub struct SentFile {
    /// The name it was offered under.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The blob that holds its ciphertext.
    pub blob: String,
    /// From opening the file to the offer going out.
    pub elapsed: Duration,
}

/// A file received, decrypted and checked.
#[derive(Clone, Debug)]
pub struct ReceivedFile {
    /// Where it was saved.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// From the request to the file in place.
    pub elapsed: Duration,
}

/// Encrypts the file at `path` as it reads it, uploads the ciphertext in parts of at most
/// [`PART_BYTES`], and offers it to the group under its file name. Needs the blob token (it
/// comes right after the join) and, for the offer, membership of the encrypted group.
pub async fn send_file(client: &RoomClient, path: &Path) -> Result<SentFile> {
    let started = Instant::now();
    let name = file_name(path)?;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(local_error(path))?;
    let size = file.metadata().await.map_err(local_error(path))?.len();
    let total = ciphertext_len(size).ok_or(FileCryptoError::TooLarge)?;
    let (mut encryptor, key) = FileEncryptor::new()?;
    let store = BlobStore::open(&client.blob_access()).await?;
    let mut upload = Upload::new(store, UploadKind::Blob { size: total });
    let mut reader = file.take(size);
    let mut buffer = vec![0; READ_BYTES];
    let mut read = 0;
    loop {
        let n = reader.read(&mut buffer).await.map_err(local_error(path))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        upload.push(&encryptor.update(&buffer[..n])?).await?;
    }
    if read != size {
        let changed = format!("{} changed while it was read", path.display());
        return Err(FileTransferError::Local(changed));
    }
    let (last, sha256) = encryptor.finish()?;
    upload.push(&last).await?;
    let (blob, _) = upload.finish().await?;
    let offer = FileOffer {
        blob: blob.clone(),
        mime: mime_type(&name).to_owned(),
        name: name.clone(),
        size,
        key: sealroom_protocol::Bytes(key.as_bytes().to_vec()),
        sha256: sealroom_protocol::Bytes(sha256.to_vec()),
    };
    client
        .send_file_offer(offer)
        .await
        .map_err(FileTransferError::Offer)?;
    Ok(SentFile {
        name,
        size,
        blob,
        elapsed: started.elapsed(),
    })
}

/// Uploads the sealed recording at `path` (an SRR1 file) to the server's recording store in
/// parts, as it reads it, and marks it complete: its id there. Needs the blob token, and the
/// room's `recording` permission for our role.
pub async fn upload_recording(client: &RoomClient, path: &Path) -> Result<String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(local_error(path))?;
    let store = BlobStore::open(&client.blob_access()).await?;
    let mut upload = Upload::new(store, UploadKind::Recording);
    let mut buffer = vec![0; READ_BYTES];
    loop {
        let n = file.read(&mut buffer).await.map_err(local_error(path))?;
        if n == 0 {
            break;
        }
        upload.push(&buffer[..n]).await?;
    }
    let (id, mut store) = upload.finish().await?;
    let complete = format!("{}/{id}/complete", UploadKind::Recording.path());
    store
        .send(Method::POST, &complete, None, Bytes::new())
        .await?;
    Ok(id)
}

/// Downloads the file a member offered into `dir`: the plaintext goes to a temporary file,
/// which takes the offer's name (or `name (1).ext`, … if that is taken) only once the whole
/// file decrypted and its SHA-256 matched. On any failure nothing is left in `dir`; a
/// download that is not the file offered fails with the [`FileCryptoError`]'s words.
pub async fn receive_file(
    access: &BlobAccess,
    entry: &FileEntry,
    dir: &Path,
) -> Result<ReceivedFile> {
    let started = Instant::now();
    let offer = &entry.offer;
    // The name becomes a path: only a checked offer's.
    offer
        .check()
        .map_err(|e| FileTransferError::Offer(e.to_owned()))?;
    let sha256: [u8; 32] = offer.sha256.0.as_slice().try_into().expect("checked");
    let mut decryptor = FileDecryptor::new(&FileKey::from_bytes(&offer.key.0)?, offer.size)?;
    let mut store = BlobStore::open(access).await?;
    let path = format!("/api/blobs/{}", offer.blob);
    let response = store.send(Method::GET, &path, None, Bytes::new()).await?;
    let mut partial = PartialFile::create(dir).await?;
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| http_error(format!("the download broke off: {e}")))?;
        if let Ok(data) = frame.into_data() {
            partial.write(&decryptor.update(&data)?).await?;
        }
    }
    partial.write(&decryptor.finish(&sha256)?).await?;
    let path = partial.keep_as(&offer.name).await?;
    Ok(ReceivedFile {
        path,
        size: offer.size,
        elapsed: started.elapsed(),
    })
}

/// The name a file is offered under: its own, without the directories.
fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| FileTransferError::Local(format!("{}: not a file", path.display())))
}

/// The media type of a file name's extension, or `application/octet-stream`.
fn mime_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("txt" | "md" | "log") => "text/plain",
        Some("csv") => "text/csv",
        Some("html" | "htm") => "text/html",
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        Some("mp3") => "audio/mpeg",
        Some("ogg") => "audio/ogg",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        _ => "application/octet-stream",
    }
}

/// A connection to the server's blob store, with our blob token.
struct BlobStore {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
    token: String,
}

impl BlobStore {
    async fn open(access: &BlobAccess) -> Result<Self> {
        let token = access.token().ok_or(FileTransferError::NoToken)?;
        let origin = Origin::parse(&access.server)
            .ok_or_else(|| http_error(format!("invalid server URL {:?}", access.server)))?;
        let sender = origin
            .connect(access.ca_file.as_deref())
            .await
            .map_err(http_error)?;
        Ok(Self {
            sender,
            authority: origin.authority().to_owned(),
            token,
        })
    }

    /// One request; an answer other than 2xx is the server's refusal.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        declared_size: Option<u64>,
        body: Bytes,
    ) -> Result<Response<Incoming>> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        if let Some(size) = declared_size {
            request = request.header(BLOB_SIZE, size);
        }
        let request = request.body(Full::new(body)).map_err(http_error)?;
        self.sender.ready().await.map_err(http_error)?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(http_error)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refusal(response).await)
        }
    }
}

/// The server's `{"error", "message"}`.
async fn refusal(response: Response<Incoming>) -> FileTransferError {
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return http_error(e),
    };
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    FileTransferError::Refused {
        status,
        code: answer["error"].as_str().unwrap_or_default().to_owned(),
        message: answer["message"].as_str().unwrap_or_default().to_owned(),
    }
}

/// What an upload makes on the server: a room's blob, whose ciphertext size is declared up
/// front, or a recording in the recording store, whose id its header names.
#[derive(Clone, Copy)]
enum UploadKind {
    Blob { size: u64 },
    Recording,
}

impl UploadKind {
    fn path(self) -> &'static str {
        match self {
            Self::Blob { .. } => "/api/blobs",
            Self::Recording => "/api/recordings",
        }
    }

    fn declared_size(self) -> Option<u64> {
        match self {
            Self::Blob { size } => Some(size),
            Self::Recording => None,
        }
    }
}

/// An upload: the first part makes the object (`POST`), the others follow in order
/// (`PUT ?offset=`).
struct Upload {
    store: BlobStore,
    kind: UploadKind,
    id: Option<String>,
    /// Bytes the server has.
    sent: u64,
    /// The part being filled.
    part: Vec<u8>,
}

impl Upload {
    fn new(store: BlobStore, kind: UploadKind) -> Self {
        Self {
            store,
            kind,
            id: None,
            sent: 0,
            part: Vec::with_capacity(PART_BYTES),
        }
    }

    /// Takes the next ciphertext; sends each part as soon as it is full.
    async fn push(&mut self, mut ciphertext: &[u8]) -> Result<()> {
        while !ciphertext.is_empty() {
            let room = PART_BYTES - self.part.len();
            let (now, later) = ciphertext.split_at(room.min(ciphertext.len()));
            self.part.extend_from_slice(now);
            ciphertext = later;
            if self.part.len() == PART_BYTES {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Sends what is left; the object's id, and the store for what follows.
    async fn finish(mut self) -> Result<(String, BlobStore)> {
        if !self.part.is_empty() {
            self.send_part().await?;
        }
        let id = self
            .id
            .ok_or_else(|| http_error("there were no bytes to upload"))?;
        Ok((id, self.store))
    }

    async fn send_part(&mut self) -> Result<()> {
        let part = std::mem::replace(&mut self.part, Vec::with_capacity(PART_BYTES));
        let len = part.len() as u64;
        match &self.id {
            None => {
                let (path, size) = (self.kind.path(), self.kind.declared_size());
                let response = self
                    .store
                    .send(Method::POST, path, size, part.into())
                    .await?;
                self.id = Some(created_id(response).await?);
            }
            Some(id) => {
                let path = format!("{}/{id}?offset={}", self.kind.path(), self.sent);
                self.store
                    .send(Method::PUT, &path, None, part.into())
                    .await?;
            }
        }
        self.sent += len;
        Ok(())
    }
}

/// The id in a `201 {"id", "expires_at"}`.
async fn created_id(response: Response<Incoming>) -> Result<String> {
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(http_error)?
        .to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).map_err(http_error)?;
    answer["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| http_error("the server gave no blob id"))
}

/// A file being written in a directory under a temporary name: deleted unless kept, whatever
/// ends the download (an error, or the task dropped). `sealroom recording decrypt` writes
/// recordings so too.
pub(crate) struct PartialFile {
    dir: PathBuf,
    path: PathBuf,
    file: BufWriter<tokio::fs::File>,
    kept: bool,
}

impl PartialFile {
    pub(crate) async fn create(dir: &Path) -> Result<Self> {
        let path = dir.join(format!(".sealroom-{:032x}.part", rand::random::<u128>()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(local_error(&path))?;
        Ok(Self {
            dir: dir.to_owned(),
            file: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
            path,
            kept: false,
        })
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .await
            .map_err(local_error(&self.path))
    }

    /// Gives the file `name` in its directory, or the first free `name (n)`; where it is.
    async fn keep_as(mut self, name: &str) -> Result<PathBuf> {
        self.file.flush().await.map_err(local_error(&self.path))?;
        let path = reserve_name(&self.dir, name)?;
        self.replace(path).await
    }

    /// Gives the file exactly `name` in its directory; fails, keeping nothing, if it is taken.
    pub(crate) async fn keep_new(mut self, name: &str) -> Result<PathBuf> {
        self.file.flush().await.map_err(local_error(&self.path))?;
        let path = self.dir.join(name);
        create_empty(&path).map_err(local_error(&path))?;
        self.replace(path).await
    }

    /// Moves the file onto `path`, the empty file that reserved the name.
    async fn replace(mut self, path: PathBuf) -> Result<PathBuf> {
        if let Err(error) = tokio::fs::rename(&self.path, &path).await {
            let _ = std::fs::remove_file(&path);
            return Err(local_error(&path)(error));
        }
        self.kept = true;
        Ok(path)
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates an empty file at `path`, unless one is there.
fn create_empty(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Claims the first free name of `name`, `stem (1).ext`, `stem (2).ext`, … in `dir` by creating
/// it empty, so that no other file is ever replaced.
fn reserve_name(dir: &Path, name: &str) -> Result<PathBuf> {
    const TRIES: u32 = 1000;
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
        _ => (name, String::new()),
    };
    for n in 0..TRIES {
        let candidate = match n {
            0 => dir.join(name),
            n => dir.join(format!("{stem} ({n}){extension}")),
        };
        match create_empty(&candidate) {
            Ok(_) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(local_error(&candidate)(e)),
        }
    }
    Err(FileTransferError::Local(format!(
        "{}: {TRIES} files of that name already",
        dir.join(name).display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_taken_gets_a_number_and_nothing_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.pdf"), b"mine").unwrap();
        let first = reserve_name(dir.path(), "report.pdf").unwrap();
        let second = reserve_name(dir.path(), "report.pdf").unwrap();
        let hidden = reserve_name(dir.path(), ".bashrc").unwrap();
        assert_eq!(first, dir.path().join("report (1).pdf"));
        assert_eq!(second, dir.path().join("report (2).pdf"));
        assert_eq!(hidden, dir.path().join(".bashrc"));
        assert_eq!(
            std::fs::read(dir.path().join("report.pdf")).unwrap(),
            b"mine"
        );
    }

    #[tokio::test]
    async fn a_partial_file_not_kept_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut partial = PartialFile::create(dir.path()).await.unwrap();
        partial.write(b"half a file").await.unwrap();
        drop(partial);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn media_types_come_from_the_extension() {
        assert_eq!(mime_type("Report.PDF"), "application/pdf");
        assert_eq!(mime_type("notes"), "application/octet-stream");
        assert_eq!(mime_type("archive.tar.gz"), "application/gzip");
    }
}
