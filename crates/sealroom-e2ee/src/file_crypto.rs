//! End-to-end encrypted files: a file is encrypted in chunks under a fresh key before it leaves
//! the sender's device, the server stores only the ciphertext, and the key, the size and the
//! SHA-256 of the plaintext travel to the members inside an MLS application message.
//!
//! ## Format (`SRF1`)
//!
//! A 15-byte header, `b"SRF1"` ‖ chunk size (u32 BE, 64 KiB) ‖ 7-byte random nonce prefix, then
//! the chunks: each is 64 KiB of plaintext sealed with AES-256-GCM (plus its 16-byte tag), and
//! the last is shorter — 0 to 64 KiB − 1 bytes of plaintext, so a file's ciphertext length
//! follows from its size ([`ciphertext_len`]).
//!
//! The chunks form a STREAM (Hoang, Reyhanitabar, Rogaway, Vizár: online authenticated
//! encryption), RustCrypto's `StreamBE32`: chunk *i*'s nonce is the prefix ‖ *i* (u32 BE) ‖ a
//! last-chunk flag. Reordered, dropped or repeated chunks, a cut at a chunk boundary and chunks
//! appended after the last all fail to authenticate.
//!
//! ## Why the whole header is every chunk's associated data
//!
//! The nonce prefix is already in every nonce, and a reader refuses any magic or chunk size but
//! its own. Binding the header as well costs one GHASH block per 64 KiB, and means that no
//! header byte is acted on unless every chunk vouches for it: an altered chunk size cannot make
//! a reader cut the stream at other places, and a later version's header (another chunk size,
//! another cipher) cannot be put in front of this version's chunks.
//!
//! ## What the reader is told, and why
//!
//! The reader knows the file's size (it comes with the key), so it knows where every chunk ends
//! and which one is the last: a download cut anywhere, even inside a chunk, is
//! [`FileCryptoError::Truncated`] rather than a failed tag, and a byte past the end is
//! [`FileCryptoError::TooLong`] as soon as it arrives.
//!
//! AES-GCM does not commit to its key: a sender could craft one ciphertext that opens to two
//! different files under two keys. The SHA-256 of the plaintext, which travels with the key,
//! commits the sender to one file; [`FileDecryptor::finish`] checks it.
//!
//! Both sides are sans-IO and streaming: bytes in, bytes out, never the whole file in memory.
//! What [`FileDecryptor::update`] returns is authentic but may still belong to a file that turns
//! out to be incomplete or not the one offered: the caller discards everything it wrote unless
//! [`FileDecryptor::finish`] succeeds.
//!
//! ## Streams inside another format
//!
//! A format that carries this one (a recording, [`crate::recording`]) makes the key itself and
//! binds its own header into every chunk as a *context* in front of this header
//! ([`FileEncryptor::with_key`]). Its size is not known when it starts, so its reader
//! ([`FileDecryptor::open_ended`]) learns the end from STREAM's last-chunk flag alone: a whole
//! chunk is never the last, whatever is left at [`FileDecryptor::finish_open_ended`] must open as
//! the last. Such a reader cannot tell a stream cut inside its last chunk from one whose last
//! chunk was altered, and calls both [`FileCryptoError::Truncated`], the likelier.

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::stream::{DecryptorBE32, EncryptorBE32},
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::random;

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Bytes of the header in front of the chunks.
pub const HEADER_BYTES: usize = HEADER_START_BYTES + NONCE_PREFIX_BYTES;

/// Largest file, in bytes (256 TiB less one byte): STREAM's 32-bit counter numbers 2^32
/// chunks, and the last one holds less than a whole chunk.
pub const MAX_FILE_BYTES: u64 = (1 << 32) * CHUNK_SIZE as u64 - 1;

/// Bytes of a file key (AES-256).
pub const FILE_KEY_BYTES: usize = 32;

const MAGIC: &[u8; 4] = b"SRF1";
/// The magic and the chunk size (u32).
const HEADER_START_BYTES: usize = MAGIC.len() + 4;
/// AES-GCM's 12-byte nonce less STREAM's counter (4) and last-chunk flag (1).
const NONCE_PREFIX_BYTES: usize = 7;
const TAG_BYTES: usize = 16;
const SEALED_CHUNK_BYTES: usize = CHUNK_SIZE + TAG_BYTES;

/// Why a file could not be encrypted or decrypted. Every decryption failure means: discard
/// what was written, there is no file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileCryptoError {
    /// The bytes do not start with this version's header.
    #[error("not a Sealroom encrypted file")]
    BadHeader,
    /// Fewer bytes came than the file's size calls for.
    #[error("the file was cut short: it is incomplete")]
    Truncated,
    /// A chunk did not authenticate: altered, out of place, or under another key.
    #[error("the file was altered, or the key does not match")]
    Tampered,
    /// More bytes came than the file's size calls for.
    #[error("the file goes on past its end: it was altered")]
    TooLong,
    /// The plaintext is not the file that was offered.
    #[error("the file is not the one that was offered: its SHA-256 differs")]
    HashMismatch,
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("the file is too large: at most 256 TiB can be encrypted")]
    TooLarge,
    /// A file key must be [`FILE_KEY_BYTES`] bytes.
    #[error("a file key is {FILE_KEY_BYTES} bytes")]
    InvalidKey,
    /// The random number generator failed.
    #[error("no randomness for a file key")]
    NoRandomness,
}

impl FileCryptoError {
    /// A stable snake_case code per kind, for protocols and the browser. Exhaustive on purpose:
    /// a new variant must get a code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadHeader => "bad_header",
            Self::Truncated => "truncated",
            Self::Tampered => "tampered",
            Self::TooLong => "too_long",
            Self::HashMismatch => "hash_mismatch",
            Self::TooLarge => "too_large",
            Self::InvalidKey => "invalid_key",
            Self::NoRandomness => "no_randomness",
        }
    }
}

/// A file's key: 256 random bits, fresh for each file, zeroized on drop.
pub struct FileKey(Zeroizing<[u8; FILE_KEY_BYTES]>);

impl FileKey {
    /// A fresh key.
    pub fn generate() -> Result<Self, FileCryptoError> {
        let mut key = Zeroizing::new([0; FILE_KEY_BYTES]);
        random::fill(key.as_mut()).map_err(|_| FileCryptoError::NoRandomness)?;
        Ok(Self(key))
    }

    /// The key a file offer carries.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FileCryptoError> {
        let key = bytes.try_into().map_err(|_| FileCryptoError::InvalidKey)?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// The key's bytes, for the file offer.
    pub fn as_bytes(&self) -> &[u8; FILE_KEY_BYTES] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.as_ref().into())
    }
}

/// The exact ciphertext length of a file of `size` bytes (to declare an upload before
/// encrypting); `None` over [`MAX_FILE_BYTES`].
pub fn ciphertext_len(size: u64) -> Option<u64> {
    Layout::of(size).ok().map(|layout| layout.ciphertext_len())
}

/// How a file of a given size is cut into chunks.
#[derive(Clone, Copy)]
struct Layout {
    /// Chunks of [`CHUNK_SIZE`] plaintext bytes.
    whole_chunks: u64,
    /// Ciphertext bytes of the last chunk: its plaintext and the tag.
    last_sealed: u64,
}

impl Layout {
    fn of(size: u64) -> Result<Self, FileCryptoError> {
        if size > MAX_FILE_BYTES {
            return Err(FileCryptoError::TooLarge);
        }
        let chunk = CHUNK_SIZE as u64;
        Ok(Self {
            whole_chunks: size / chunk,
            last_sealed: size % chunk + TAG_BYTES as u64,
        })
    }

    fn ciphertext_len(&self) -> u64 {
        HEADER_BYTES as u64 + self.whole_chunks * SEALED_CHUNK_BYTES as u64 + self.last_sealed
    }
}

/// Encrypts one file, streaming. Every whole chunk goes out as soon as its plaintext is in.
pub struct FileEncryptor {
    stream: EncryptorBE32<Aes256Gcm>,
    header: [u8; HEADER_BYTES],
    /// Every chunk's associated data: the caller's context, then the header.
    associated_data: Vec<u8>,
    header_sent: bool,
    /// Plaintext of the chunk being filled: less than a whole chunk between calls.
    pending: Vec<u8>,
    hasher: Sha256,
}

impl FileEncryptor {
    /// An encryptor under a fresh key, returned for the file offer.
    pub fn new() -> Result<(Self, FileKey), FileCryptoError> {
        let key = FileKey::generate()?;
        Ok((Self::with_key(&key, &[])?, key))
    }

    /// An encryptor under `key`, which the caller made fresh for this stream and never uses
    /// for another, that binds `context` (fixed-length for a given caller, e.g. a hash of its own
    /// header) into every chunk. An empty context is [`FileEncryptor::new`]'s format exactly.
    pub fn with_key(key: &FileKey, context: &[u8]) -> Result<Self, FileCryptoError> {
        let mut nonce_prefix = [0; NONCE_PREFIX_BYTES];
        random::fill(&mut nonce_prefix).map_err(|_| FileCryptoError::NoRandomness)?;
        let header = header(&nonce_prefix);
        Ok(Self {
            stream: EncryptorBE32::from_aead(key.cipher(), &nonce_prefix.into()),
            header,
            associated_data: [context, &header].concat(),
            header_sent: false,
            pending: Vec::with_capacity(SEALED_CHUNK_BYTES),
            hasher: Sha256::new(),
        })
    }

    /// Takes the next plaintext bytes; returns the ciphertext ready so far, the header first.
    /// Fails only past [`MAX_FILE_BYTES`].
    pub fn update(&mut self, mut plaintext: &[u8]) -> Result<Vec<u8>, FileCryptoError> {
        self.hasher.update(plaintext);
        let whole_chunks = (self.pending.len() + plaintext.len()) / CHUNK_SIZE;
        let mut ciphertext = Vec::with_capacity(HEADER_BYTES + whole_chunks * SEALED_CHUNK_BYTES);
        self.send_header(&mut ciphertext);
        while fill(&mut self.pending, CHUNK_SIZE, &mut plaintext) {
            // A whole chunk is never the last: the last holds less than a chunk.
            self.stream
                .encrypt_next_in_place(&self.associated_data, &mut self.pending)
                .map_err(|_| FileCryptoError::TooLarge)?;
            ciphertext.extend_from_slice(&self.pending);
            self.pending.clear();
        }
        Ok(ciphertext)
    }

    /// Seals the last chunk; returns it (after the header, if no update sent it) and the
    /// SHA-256 of the whole plaintext, for the file offer.
    pub fn finish(mut self) -> Result<(Vec<u8>, [u8; 32]), FileCryptoError> {
        let mut ciphertext = Vec::with_capacity(HEADER_BYTES + SEALED_CHUNK_BYTES);
        self.send_header(&mut ciphertext);
        self.stream
            .encrypt_last_in_place(&self.associated_data, &mut self.pending)
            .map_err(|_| FileCryptoError::TooLarge)?;
        ciphertext.extend_from_slice(&self.pending);
        Ok((ciphertext, self.hasher.finalize().into()))
    }

    fn send_header(&mut self, ciphertext: &mut Vec<u8>) {
        if !self.header_sent {
            ciphertext.extend_from_slice(&self.header);
            self.header_sent = true;
        }
    }
}

/// Decrypts one file of a known size, streaming, and checks it against its offer; or an
/// open-ended stream ([`FileDecryptor::open_ended`]).
pub struct FileDecryptor {
    stage: Stage,
    /// How the file is cut, if its size is known (not for an open-ended stream).
    layout: Option<Layout>,
    /// Ciphertext bytes the file has, if known, and those received so far.
    expected: Option<u64>,
    received: u64,
    /// The header, or the chunk, being filled.
    pending: Vec<u8>,
    hasher: Sha256,
}

enum Stage {
    /// Before the header: the key's cipher, for the stream the header's prefix starts, and the
    /// caller's context.
    Header(Aes256Gcm, Vec<u8>),
    Chunks {
        stream: DecryptorBE32<Aes256Gcm>,
        /// The context, then the header.
        associated_data: Vec<u8>,
        opened: u64,
    },
    /// Failed for good: every later call says why again.
    Failed(FileCryptoError),
}

impl FileDecryptor {
    /// A decryptor for a file of `size` plaintext bytes under `key`, both from its offer.
    pub fn new(key: &FileKey, size: u64) -> Result<Self, FileCryptoError> {
        let layout = Layout::of(size)?;
        Ok(Self {
            layout: Some(layout),
            expected: Some(layout.ciphertext_len()),
            ..Self::open_ended(key, &[])
        })
    }

    /// A decryptor for a stream of unknown length that [`FileEncryptor::with_key`] made under
    /// `key` and `context`; end it with [`FileDecryptor::finish_open_ended`].
    pub fn open_ended(key: &FileKey, context: &[u8]) -> Self {
        Self {
            stage: Stage::Header(key.cipher(), context.to_vec()),
            layout: None,
            expected: None,
            received: 0,
            pending: Vec::with_capacity(SEALED_CHUNK_BYTES),
            hasher: Sha256::new(),
        }
    }

    /// Takes the next ciphertext bytes; returns the plaintext of the chunks they completed. The
    /// last chunk waits for [`FileDecryptor::finish`]. After an error, every call fails.
    pub fn update(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, FileCryptoError> {
        let result = self.consume(ciphertext);
        if let Err(error) = result {
            self.stage = Stage::Failed(error);
        }
        result
    }

    /// Opens the last chunk and checks the SHA-256 of the whole plaintext against the offer's;
    /// returns the last chunk's plaintext.
    pub fn finish(self, expected_sha256: &[u8; 32]) -> Result<Vec<u8>, FileCryptoError> {
        let (last, sha256) = self.open_last()?;
        if &sha256 != expected_sha256 {
            return Err(FileCryptoError::HashMismatch);
        }
        Ok(last)
    }

    /// Opens the last chunk of a stream that comes with no hash to check (its sender commits to
    /// its key in another way); returns the last chunk's plaintext. Whatever is left over must
    /// open as the last chunk, or the stream is [`FileCryptoError::Truncated`].
    pub fn finish_open_ended(self) -> Result<Vec<u8>, FileCryptoError> {
        self.open_last().map(|(last, _)| last)
    }

    /// The last chunk's plaintext, and the SHA-256 of the whole plaintext.
    fn open_last(mut self) -> Result<(Vec<u8>, [u8; 32]), FileCryptoError> {
        let (stream, associated_data) = match self.stage {
            Stage::Chunks {
                stream,
                associated_data,
                ..
            } => (stream, associated_data),
            Stage::Failed(error) => return Err(error),
            Stage::Header(..) => return Err(FileCryptoError::Truncated),
        };
        if self
            .expected
            .is_some_and(|expected| self.received < expected)
        {
            return Err(FileCryptoError::Truncated);
        }
        // Without a size, a cut and an altered last chunk look the same (module docs).
        let failure = match self.layout {
            Some(_) => FileCryptoError::Tampered,
            None => FileCryptoError::Truncated,
        };
        stream
            .decrypt_last_in_place(&associated_data, &mut self.pending)
            .map_err(|_| failure)?;
        self.hasher.update(&self.pending);
        Ok((self.pending, self.hasher.finalize().into()))
    }

    fn consume(&mut self, mut ciphertext: &[u8]) -> Result<Vec<u8>, FileCryptoError> {
        if let Stage::Failed(error) = self.stage {
            return Err(error);
        }
        self.received = self.received.saturating_add(ciphertext.len() as u64);
        if self
            .expected
            .is_some_and(|expected| self.received > expected)
        {
            return Err(FileCryptoError::TooLong);
        }
        let mut plaintext = Vec::with_capacity(ciphertext.len());
        loop {
            let piece_len = self.piece_len();
            let complete = fill(&mut self.pending, piece_len, &mut ciphertext);
            // The last chunk waits for `finish` (and `expected` lets nothing follow it). An
            // open-ended stream's whole chunks are never the last.
            if !complete || self.at_last_chunk() {
                return Ok(plaintext);
            }
            match self.stage {
                Stage::Header(..) => self.open_header()?,
                _ => self.open_chunk(&mut plaintext)?,
            }
        }
    }

    /// The layout, if the chunk being filled is the last of a file of known size.
    fn last_chunk(&self) -> Option<Layout> {
        match (&self.stage, self.layout) {
            (Stage::Chunks { opened, .. }, Some(layout)) if *opened == layout.whole_chunks => {
                Some(layout)
            }
            _ => None,
        }
    }

    fn at_last_chunk(&self) -> bool {
        self.last_chunk().is_some()
    }

    /// Bytes of the header or chunk being filled.
    fn piece_len(&self) -> usize {
        match (&self.stage, self.last_chunk()) {
            (Stage::Header(..) | Stage::Failed(_), _) => HEADER_BYTES,
            // Less than a sealed chunk (`Layout`): fits any usize.
            (_, Some(layout)) => layout.last_sealed as usize,
            _ => SEALED_CHUNK_BYTES,
        }
    }

    fn open_header(&mut self) -> Result<(), FileCryptoError> {
        // `fill` made it a whole header; were it not, zeros would fail the check below.
        let header: [u8; HEADER_BYTES] = self.pending.as_slice().try_into().unwrap_or_default();
        let (start, nonce_prefix) = header.split_at(HEADER_START_BYTES);
        let Stage::Header(cipher, context) = &self.stage else {
            return Err(FileCryptoError::BadHeader);
        };
        if start != header_start() {
            return Err(FileCryptoError::BadHeader);
        }
        self.stage = Stage::Chunks {
            stream: DecryptorBE32::from_aead(cipher.clone(), nonce_prefix.into()),
            associated_data: [context, &header[..]].concat(),
            opened: 0,
        };
        self.pending.clear();
        Ok(())
    }

    fn open_chunk(&mut self, plaintext: &mut Vec<u8>) -> Result<(), FileCryptoError> {
        let Stage::Chunks {
            stream,
            associated_data,
            opened,
        } = &mut self.stage
        else {
            return Err(FileCryptoError::BadHeader);
        };
        stream
            .decrypt_next_in_place(associated_data.as_slice(), &mut self.pending)
            .map_err(|_| FileCryptoError::Tampered)?;
        *opened += 1;
        self.hasher.update(&self.pending);
        plaintext.extend_from_slice(&self.pending);
        self.pending.clear();
        Ok(())
    }
}

fn header(nonce_prefix: &[u8; NONCE_PREFIX_BYTES]) -> [u8; HEADER_BYTES] {
    let mut header = [0; HEADER_BYTES];
    let (start, prefix) = header.split_at_mut(HEADER_START_BYTES);
    start.copy_from_slice(&header_start());
    prefix.copy_from_slice(nonce_prefix);
    header
}

/// What every header of this version starts with: the magic and the chunk size.
fn header_start() -> [u8; HEADER_START_BYTES] {
    let mut start = [0; HEADER_START_BYTES];
    let (magic, chunk_size) = start.split_at_mut(MAGIC.len());
    magic.copy_from_slice(MAGIC);
    chunk_size.copy_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
    start
}

/// Moves bytes from the front of `input` into `piece` until it holds `len`; true if it does.
fn fill(piece: &mut Vec<u8>, len: usize, input: &mut &[u8]) -> bool {
    let wanted = len.saturating_sub(piece.len()).min(input.len());
    let (taken, rest) = input.split_at(wanted);
    piece.extend_from_slice(taken);
    *input = rest;
    piece.len() == len
}
