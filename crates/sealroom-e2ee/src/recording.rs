//! End-to-end encrypted meeting recordings: the recorder (a moderator's client) encrypts the
//! recording in chunks under a fresh *recording key* as it is made, and seals that key with HPKE
//! (RFC 9180, base mode, X25519) to each of the recording's *owners*. The server stores only
//! ciphertext; an owner's secret key, and nothing else, opens it.
//!
//! ## Format (`SRR1`)
//!
//! A header, then the body. The header (53 + 112 × *n* bytes):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `b"SRR1"` |
//! | 16 | recording id, random |
//! | 1 | *n*, the number of owners, 1 to [`MAX_OWNERS`] |
//! | 112 × *n* | per owner: its X25519 public key (32), the HPKE `enc` (32), the sealed key (48) |
//! | 32 | header tag: HMAC-SHA256(recording key, `"sealroom recording header v1"` ‖ the above) |
//!
//! Each owner's wrap is `HPKE.Seal(owner, info, aad = "", recording key)` with `info` =
//! `"sealroom recording key v1"` ‖ id ‖ the owner's public key, so a wrap opens only in the
//! recording and for the owner it names. The body is [`crate::file_crypto`]'s `SRF1` stream
//! under the recording key, with SHA-256 of the whole header as every chunk's context
//! ([`FileEncryptor::with_key`]). `docs/recording-format.md` has the byte-by-byte layout.
//!
//! ## Why a header tag
//!
//! An owner checks the tag as soon as its wrap opens, before a single chunk: an owner added,
//! dropped, replaced or moved, or any other header byte changed, is [`RecordingError::Tampered`]
//! at once, however short the recording (its chunks would tell only at its end, where a change
//! looks like a cut). The tag also commits to the key (HMAC-SHA256 is collision-resistant in its
//! key): AES-GCM does not, so without it a recorder could seal different keys to different
//! owners and craft one body that opens to a different recording under each. The body's context
//! binds it to this very header besides.
//!
//! ## What it does not protect
//!
//! The server learns the owners' public keys, the recording's length (to within a chunk) and
//! when its bytes arrived. Nothing authenticates the *recorder*: base-mode HPKE needs only an
//! owner's public key, so whoever stores the recording could replace it whole with one of its own
//! making, sealed to the same owners; it cannot alter, cut or extend the real one unnoticed, nor
//! read it. The reader has no length: a cut inside the last chunk and an altered last chunk
//! look alike, and are both [`RecordingError::Truncated`]; so is a recording whose recorder
//! died before [`RecordingEncryptor::finish`].
//!
//! Both sides are sans-IO and streaming. What [`RecordingDecryptor::update`] returns is authentic
//! but may belong to a recording that turns out to be cut short: the caller discards it unless
//! [`RecordingDecryptor::finish`] succeeds.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use mls_rs::{
    CipherSuiteProvider,
    crypto::{HpkeCiphertext, HpkePublicKey, HpkeSecretKey},
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{
    file_crypto::{FILE_KEY_BYTES, FileCryptoError, FileDecryptor, FileEncryptor, FileKey},
    identity::cipher_suite_provider,
    random,
};

/// Most owners a recording has: enough for a moderator, co-moderators and organisation keys,
/// and a bound on the header a reader buffers.
pub const MAX_OWNERS: usize = 16;

/// Bytes of a recording id.
pub const RECORDING_ID_BYTES: usize = 16;

const MAGIC: &[u8; 4] = b"SRR1";
const WRAP_INFO_LABEL: &[u8] = b"sealroom recording key v1";
/// The HPKE info of an owner-proof challenge: a challenge is never a wrap, nor a wrap one.
const OWNER_PROOF_INFO: &[u8] = b"sealroom recording owner proof v1";
/// Bytes of the nonce an owner-proof challenge carries.
pub const OWNER_NONCE_BYTES: usize = 32;
const HEADER_TAG_LABEL: &[u8] = b"sealroom recording header v1";
/// An X25519 public key, and HPKE's `enc` for X25519.
const KEY_BYTES: usize = 32;
/// The recording key sealed with HPKE's AEAD (AES-128-GCM: a 16-byte tag).
const SEALED_KEY_BYTES: usize = FILE_KEY_BYTES + 16;
const TAG_BYTES: usize = 32;
/// The magic, the id and the number of owners.
const FIXED_HEADER_BYTES: usize = MAGIC.len() + RECORDING_ID_BYTES + 1;
const OWNER_ENTRY_BYTES: usize = KEY_BYTES + KEY_BYTES + SEALED_KEY_BYTES;

/// The first byte of an owner public key's text form.
const PUBLIC_KEY_VERSION: u8 = 1;
/// A secret key file: `b"SRRK"`, version 1, the 32-byte seed of RFC 9180's `DeriveKeyPair`.
const SECRET_KEY_MAGIC: &[u8; 4] = b"SRRK";
const SECRET_KEY_VERSION: u8 = 1;
const SEED_BYTES: usize = 32;
const SECRET_KEY_FILE_BYTES: usize = SECRET_KEY_MAGIC.len() + 1 + SEED_BYTES;

/// X25519 public keys of small order (the high bit masked, as X25519 ignores it): with any of
/// them the Diffie-Hellman output is all zeros, so a wrap sealed to it opens for anyone.
/// 0, 1, two points of order 8, p − 1, p and p + 1 (libsodium's list).
const LOW_ORDER_KEYS: [[u8; KEY_BYTES]; 7] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    field_element(0xec),
    field_element(0xed),
    field_element(0xee),
];

/// p − 1, p or p + 1 (p = 2^255 − 19) little-endian, by their first byte.
const fn field_element(first: u8) -> [u8; KEY_BYTES] {
    let mut bytes = [0xff; KEY_BYTES];
    bytes[0] = first;
    bytes[KEY_BYTES - 1] = 0x7f;
    bytes
}

/// Why a recording could not be encrypted or decrypted, or a key not read. Every decryption
/// failure means: discard what was written, there is no recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordingError {
    /// The recording names no wrap for this key.
    #[error("this key is not an owner of the recording: it cannot decrypt it")]
    NotAnOwner,
    /// This owner's wrap does not open: altered, or copied from another recording.
    #[error(
        "the recording key sealed to this owner does not open: altered, or from another recording"
    )]
    WrapDoesNotOpen,
    /// The recording stops before its authenticated end.
    #[error("the recording is incomplete: it was cut short, or its end was altered")]
    Truncated,
    /// The header or a chunk did not authenticate.
    #[error("the recording was altered: it does not authenticate")]
    Tampered,
    /// The bytes do not start with a well-formed `SRR1` header.
    #[error("not a Sealroom recording, or its header is damaged")]
    MalformedHeader,
    /// More owners than [`MAX_OWNERS`].
    #[error("a recording has at most {MAX_OWNERS} owners")]
    TooManyOwners,
    /// A recording needs an owner.
    #[error("a recording needs at least one owner")]
    NoOwners,
    /// The same owner was given twice.
    #[error("the same owner key was given twice")]
    DuplicateOwner,
    /// Not a recording owner public key, or one of small order.
    #[error("not a valid recording owner public key")]
    InvalidPublicKey,
    /// Not a recording owner secret key.
    #[error("not a recording owner secret key")]
    InvalidSecretKey,
    /// Past the 256 TiB a stream holds.
    #[error("the recording is too large: at most 256 TiB can be encrypted")]
    TooLarge,
    /// An owner-proof challenge that does not open with this key: sealed to another key, or
    /// altered.
    #[error("the challenge does not open with this key: sealed to another key, or altered")]
    ChallengeDoesNotOpen,
    /// The cryptographic provider or the random number generator failed.
    #[error("the cryptographic provider failed")]
    Crypto,
}

impl RecordingError {
    /// A stable snake_case code per kind, for protocols and the browser. Exhaustive on purpose:
    /// a new variant must get a code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAnOwner => "not_an_owner",
            Self::WrapDoesNotOpen => "wrap_does_not_open",
            Self::Truncated => "truncated",
            Self::Tampered => "tampered",
            Self::MalformedHeader => "malformed_header",
            Self::TooManyOwners => "too_many_owners",
            Self::NoOwners => "no_owners",
            Self::DuplicateOwner => "duplicate_owner",
            Self::InvalidPublicKey => "invalid_public_key",
            Self::InvalidSecretKey => "invalid_secret_key",
            Self::TooLarge => "too_large",
            Self::ChallengeDoesNotOpen => "challenge_does_not_open",
            Self::Crypto => "crypto",
        }
    }

    /// What a body failure means for the recording (the body has no size and no hash).
    fn from_body(error: FileCryptoError) -> Self {
        match error {
            FileCryptoError::Truncated => Self::Truncated,
            FileCryptoError::BadHeader
            | FileCryptoError::Tampered
            | FileCryptoError::TooLong
            | FileCryptoError::HashMismatch => Self::Tampered,
            FileCryptoError::TooLarge => Self::TooLarge,
            FileCryptoError::InvalidKey | FileCryptoError::NoRandomness => Self::Crypto,
        }
    }
}

type Result<T> = std::result::Result<T, RecordingError>;

/// An owner's public key: what a recorder seals recording keys to, pasted into a config file
/// as text ([`RecordingOwnerPublic::to_base64url`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordingOwnerPublic([u8; KEY_BYTES]);

impl RecordingOwnerPublic {
    /// Reads the text form: base64url (no padding) of the version byte (1) and the 32-byte
    /// X25519 key, 44 characters. Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| RecordingError::InvalidPublicKey)?;
        match bytes.split_first() {
            Some((&PUBLIC_KEY_VERSION, key)) => Self::from_bytes(key),
            _ => Err(RecordingError::InvalidPublicKey),
        }
    }

    /// The raw 32-byte X25519 key, checked: the provider's validation, and no small order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let key: [u8; KEY_BYTES] = bytes
            .try_into()
            .map_err(|_| RecordingError::InvalidPublicKey)?;
        let mut masked = key;
        masked[KEY_BYTES - 1] &= 0x7f;
        let valid = cipher_suite_provider()
            .map_err(|_| RecordingError::Crypto)?
            .kem_public_key_validate(&HpkePublicKey::from(key.to_vec()))
            .is_ok();
        if !valid || LOW_ORDER_KEYS.contains(&masked) {
            return Err(RecordingError::InvalidPublicKey);
        }
        Ok(Self(key))
    }

    /// The text form [`RecordingOwnerPublic::parse`] reads.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode([&[PUBLIC_KEY_VERSION][..], &self.0].concat())
    }

    /// The raw 32-byte X25519 key, as the header names it.
    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    /// What people compare to check a key, and what a recording notice names an owner by: the
    /// first 16 bytes of SHA-256 of its raw bytes, as 32 lowercase hex digits.
    pub fn fingerprint(&self) -> String {
        Sha256::digest(self.0)[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn hpke(&self) -> HpkePublicKey {
        HpkePublicKey::from(self.0.to_vec())
    }
}

/// An owner's key pair, from a 32-byte seed by RFC 9180's `DeriveKeyPair` (so any HPKE
/// implementation finds the same keys in the file). The seed and the secret key zeroize on drop.
pub struct RecordingOwnerKey {
    seed: Zeroizing<[u8; SEED_BYTES]>,
    secret: HpkeSecretKey,
    public: RecordingOwnerPublic,
}

impl RecordingOwnerKey {
    /// A fresh key pair.
    pub fn generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0; SEED_BYTES]);
        random::fill(seed.as_mut()).map_err(|_| RecordingError::Crypto)?;
        Self::from_seed(seed)
    }

    /// Reads a secret key file's bytes ([`RecordingOwnerKey::to_bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != SECRET_KEY_FILE_BYTES {
            return Err(RecordingError::InvalidSecretKey);
        }
        let (magic, rest) = bytes.split_at(SECRET_KEY_MAGIC.len());
        let (version, seed) = rest.split_at(1);
        if magic != SECRET_KEY_MAGIC || version != [SECRET_KEY_VERSION] {
            return Err(RecordingError::InvalidSecretKey);
        }
        let seed: [u8; SEED_BYTES] = seed
            .try_into()
            .map_err(|_| RecordingError::InvalidSecretKey)?;
        Self::from_seed(Zeroizing::new(seed))
    }

    /// The secret key file's bytes (37): `b"SRRK"`, version 1, the seed. Keep them secret, and
    /// keep them: without them, no recording sealed to this key can be decrypted.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new([&SECRET_KEY_MAGIC[..], &[SECRET_KEY_VERSION], &self.seed[..]].concat())
    }

    /// The public key, for recorders.
    pub fn public_key(&self) -> RecordingOwnerPublic {
        self.public
    }

    fn from_seed(seed: Zeroizing<[u8; SEED_BYTES]>) -> Result<Self> {
        let (secret, public) = cipher_suite_provider()
            .map_err(|_| RecordingError::Crypto)?
            .kem_derive(seed.as_ref())
            .map_err(|_| RecordingError::Crypto)?;
        let public = RecordingOwnerPublic::from_bytes(&public)?;
        Ok(Self {
            seed,
            secret,
            public,
        })
    }
}

/// What anyone can read of a recording's header without a key: its id and its owners. Its tag
/// is not checked (that needs the recording key), so a reader of these alone (the server) learns
/// what the header *claims*; an owner's [`RecordingDecryptor`] checks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingHeader {
    /// The recording's random id.
    pub recording_id: [u8; RECORDING_ID_BYTES],
    /// The owners' public keys, in the header's order.
    pub owners: Vec<RecordingOwnerPublic>,
    /// Bytes of the header (53 + 112 × owners): the body starts there.
    pub len: usize,
}

/// Reads the header at the start of `bytes` (which may go on into the body): its id and its
/// owners' public keys, each checked as [`RecordingOwnerPublic::from_bytes`] does, none twice.
/// Pure, and unauthenticated: the header tag needs the recording key, which only owners hold,
/// so whoever made the bytes chose what this returns. Fails with
/// [`RecordingError::MalformedHeader`] (or [`RecordingError::TooManyOwners`]) if `bytes` do not
/// start with a whole, well-formed header, and [`RecordingError::InvalidPublicKey`] for an owner
/// key no recorder could seal to.
pub fn read_header(bytes: &[u8]) -> Result<RecordingHeader> {
    let fixed = bytes
        .get(..FIXED_HEADER_BYTES)
        .ok_or(RecordingError::MalformedHeader)?;
    let len = header_len_so_far(fixed)?;
    let header = Header::parse(bytes.get(..len).ok_or(RecordingError::MalformedHeader)?)?;
    let owners = header
        .wraps
        .iter()
        .map(|wrap| RecordingOwnerPublic::from_bytes(&wrap.owner))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordingHeader {
        recording_id: header.recording_id,
        owners,
        len,
    })
}

/// A challenge only `owner`'s secret key opens: `nonce` sealed with HPKE (base mode, the
/// recordings' suite) under the info `"sealroom recording owner proof v1"`, as `enc` (32 bytes)
/// then the ciphertext (48). Whoever answers with `nonce` holds the key (or asked its holder).
pub fn seal_owner_challenge(
    owner: &RecordingOwnerPublic,
    nonce: &[u8; OWNER_NONCE_BYTES],
) -> Result<Vec<u8>> {
    let sealed = cipher_suite_provider()
        .map_err(|_| RecordingError::Crypto)?
        .hpke_seal(&owner.hpke(), OWNER_PROOF_INFO, None, nonce)
        .map_err(|_| RecordingError::Crypto)?;
    Ok([sealed.kem_output.as_slice(), sealed.ciphertext.as_slice()].concat())
}

impl RecordingOwnerKey {
    /// Opens a challenge [`seal_owner_challenge`] sealed to this key: its nonce. Fails with
    /// [`RecordingError::ChallengeDoesNotOpen`] for one sealed to another key, or altered.
    pub fn open_owner_challenge(&self, sealed: &[u8]) -> Result<[u8; OWNER_NONCE_BYTES]> {
        let (enc, ciphertext) = sealed
            .split_at_checked(KEY_BYTES)
            .ok_or(RecordingError::ChallengeDoesNotOpen)?;
        let sealed = HpkeCiphertext {
            kem_output: enc.to_vec(),
            ciphertext: ciphertext.to_vec(),
        };
        let nonce = Zeroizing::new(
            cipher_suite_provider()
                .map_err(|_| RecordingError::Crypto)?
                .hpke_open(
                    &sealed,
                    &self.secret,
                    &self.public.hpke(),
                    OWNER_PROOF_INFO,
                    None,
                )
                .map_err(|_| RecordingError::ChallengeDoesNotOpen)?,
        );
        nonce
            .as_slice()
            .try_into()
            .map_err(|_| RecordingError::ChallengeDoesNotOpen)
    }
}

/// One owner's entry in the header.
struct Wrap {
    owner: [u8; KEY_BYTES],
    enc: [u8; KEY_BYTES],
    sealed_key: [u8; SEALED_KEY_BYTES],
}

/// A parsed `SRR1` header.
struct Header {
    recording_id: [u8; RECORDING_ID_BYTES],
    wraps: Vec<Wrap>,
    tag: [u8; TAG_BYTES],
}

impl Header {
    /// The header's bytes, its tag under `key` last.
    fn encode(
        recording_id: &[u8; RECORDING_ID_BYTES],
        wraps: &[Wrap],
        key: &FileKey,
    ) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(header_len(wraps.len()));
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(recording_id);
        // At most MAX_OWNERS (`check_owners`).
        bytes.push(wraps.len() as u8);
        for wrap in wraps {
            bytes.extend_from_slice(&wrap.owner);
            bytes.extend_from_slice(&wrap.enc);
            bytes.extend_from_slice(&wrap.sealed_key);
        }
        let tag = header_mac(key, &bytes)?.finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        Ok(bytes)
    }

    /// Reads a whole header, as [`header_len`] measured it; no owner may appear twice.
    fn parse(mut bytes: &[u8]) -> Result<Self> {
        let input = &mut bytes;
        if take(input)? != *MAGIC {
            return Err(RecordingError::MalformedHeader);
        }
        let recording_id = take(input)?;
        let [count]: [u8; 1] = take(input)?;
        let mut wraps: Vec<Wrap> = Vec::with_capacity(count.into());
        for _ in 0..count {
            let wrap = Wrap {
                owner: take(input)?,
                enc: take(input)?,
                sealed_key: take(input)?,
            };
            if wraps.iter().any(|other| other.owner == wrap.owner) {
                return Err(RecordingError::MalformedHeader);
            }
            wraps.push(wrap);
        }
        let tag = take(input)?;
        if !input.is_empty() {
            return Err(RecordingError::MalformedHeader);
        }
        Ok(Self {
            recording_id,
            wraps,
            tag,
        })
    }
}

/// The header tag's MAC under `key`, over `header` up to the tag.
fn header_mac(key: &FileKey, header: &[u8]) -> Result<Hmac<Sha256>> {
    // HMAC takes a key of any length: this does not fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .map_err(|_| RecordingError::Crypto)?;
    mac.update(HEADER_TAG_LABEL);
    mac.update(header);
    Ok(mac)
}

/// The next `N` bytes of `input`.
fn take<const N: usize>(input: &mut &[u8]) -> Result<[u8; N]> {
    let (taken, rest) = input
        .split_first_chunk::<N>()
        .ok_or(RecordingError::MalformedHeader)?;
    *input = rest;
    Ok(*taken)
}

/// Bytes of a header with `owners` wraps.
fn header_len(owners: usize) -> usize {
    FIXED_HEADER_BYTES + owners * OWNER_ENTRY_BYTES + TAG_BYTES
}

/// How long the header that starts with `prefix` is, as far as `prefix` tells: the fixed part
/// until it is in, then the whole. Fails as soon as the magic or the owner count is wrong.
fn header_len_so_far(prefix: &[u8]) -> Result<usize> {
    let magic_len = prefix.len().min(MAGIC.len());
    if prefix[..magic_len] != MAGIC[..magic_len] {
        return Err(RecordingError::MalformedHeader);
    }
    match prefix
        .get(FIXED_HEADER_BYTES - 1)
        .map(|&count| count.into())
    {
        None => Ok(FIXED_HEADER_BYTES),
        Some(0) => Err(RecordingError::MalformedHeader),
        Some(count) if count > MAX_OWNERS => Err(RecordingError::TooManyOwners),
        Some(count) => Ok(header_len(count)),
    }
}

/// The HPKE info that binds a wrap to its recording and its owner.
fn wrap_info(recording_id: &[u8; RECORDING_ID_BYTES], owner: &[u8; KEY_BYTES]) -> Vec<u8> {
    [WRAP_INFO_LABEL, recording_id, owner].concat()
}

/// Seals `key` to `owner` for the recording `recording_id`.
fn wrap(
    key: &FileKey,
    recording_id: &[u8; RECORDING_ID_BYTES],
    owner: &RecordingOwnerPublic,
) -> Result<Wrap> {
    let info = wrap_info(recording_id, owner.as_bytes());
    let sealed = cipher_suite_provider()
        .map_err(|_| RecordingError::Crypto)?
        .hpke_seal(&owner.hpke(), &info, None, key.as_bytes())
        .map_err(|_| RecordingError::Crypto)?;
    Ok(Wrap {
        owner: *owner.as_bytes(),
        enc: sealed
            .kem_output
            .as_slice()
            .try_into()
            .map_err(|_| RecordingError::Crypto)?,
        sealed_key: sealed
            .ciphertext
            .as_slice()
            .try_into()
            .map_err(|_| RecordingError::Crypto)?,
    })
}

/// At least one owner, at most [`MAX_OWNERS`], none twice.
fn check_owners(owners: &[RecordingOwnerPublic]) -> Result<()> {
    if owners.is_empty() {
        return Err(RecordingError::NoOwners);
    }
    if owners.len() > MAX_OWNERS {
        return Err(RecordingError::TooManyOwners);
    }
    for (i, owner) in owners.iter().enumerate() {
        if owners[..i].contains(owner) {
            return Err(RecordingError::DuplicateOwner);
        }
    }
    Ok(())
}

/// Encrypts one recording, streaming, for its owners. Its bytes are the header
/// [`RecordingEncryptor::new`] returns, then what every [`RecordingEncryptor::update`] returns,
/// then what [`RecordingEncryptor::finish`] returns, in that order.
pub struct RecordingEncryptor {
    recording_id: [u8; RECORDING_ID_BYTES],
    body: FileEncryptor,
}

impl RecordingEncryptor {
    /// An encryptor under a fresh recording key sealed to each of `owners` (1 to
    /// [`MAX_OWNERS`], none twice); returns it with the header, the recording's first bytes.
    pub fn new(owners: &[RecordingOwnerPublic]) -> Result<(Self, Vec<u8>)> {
        check_owners(owners)?;
        let key = FileKey::generate().map_err(|_| RecordingError::Crypto)?;
        let mut recording_id = [0; RECORDING_ID_BYTES];
        random::fill(&mut recording_id).map_err(|_| RecordingError::Crypto)?;
        let wraps = owners
            .iter()
            .map(|owner| wrap(&key, &recording_id, owner))
            .collect::<Result<Vec<_>>>()?;
        let header = Header::encode(&recording_id, &wraps, &key)?;
        let body = FileEncryptor::with_key(&key, &Sha256::digest(&header))
            .map_err(|_| RecordingError::Crypto)?;
        Ok((Self { recording_id, body }, header))
    }

    /// The recording's random id, as its header names it (for the notice that announces it).
    pub fn recording_id(&self) -> [u8; RECORDING_ID_BYTES] {
        self.recording_id
    }

    /// Takes the next bytes of the recording; returns the ciphertext ready to upload (every
    /// whole 64 KiB chunk as soon as it is in). Fails only past 256 TiB.
    pub fn update(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.body
            .update(plaintext)
            .map_err(RecordingError::from_body)
    }

    /// Seals the last chunk; returns the recording's last bytes.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.body
            .finish()
            .map(|(last, _)| last)
            .map_err(RecordingError::from_body)
    }
}

/// Decrypts one recording with an owner's key, streaming, from bytes in pieces of any size.
pub struct RecordingDecryptor {
    secret: HpkeSecretKey,
    public: RecordingOwnerPublic,
    state: State,
}

enum State {
    /// The header so far.
    Header(Vec<u8>),
    /// The body's decryptor (large: the cipher's key schedule and a chunk's buffer).
    Body(Box<FileDecryptor>),
    /// Failed for good: every later call says why again.
    Failed(RecordingError),
}

impl RecordingDecryptor {
    /// A decryptor for whichever recording comes, with `owner`'s key.
    pub fn new(owner: &RecordingOwnerKey) -> Self {
        Self {
            secret: owner.secret.clone(),
            public: owner.public,
            state: State::Header(Vec::with_capacity(FIXED_HEADER_BYTES)),
        }
    }

    /// Takes the next bytes; returns the plaintext of the chunks they completed. The header is
    /// read as it arrives (a wrong magic fails at once); this key's wrap is opened as soon as it
    /// is whole. The last chunk waits for [`RecordingDecryptor::finish`]. After an error,
    /// every call fails.
    pub fn update(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        let result = self.consume(ciphertext);
        if let Err(error) = result {
            self.state = State::Failed(error);
        }
        result
    }

    /// Opens the last chunk; returns its plaintext. Fails if the recording was cut short.
    pub fn finish(self) -> Result<Vec<u8>> {
        match self.state {
            State::Header(_) => Err(RecordingError::Truncated),
            State::Body(body) => body.finish_open_ended().map_err(RecordingError::from_body),
            State::Failed(error) => Err(error),
        }
    }

    fn consume(&mut self, mut ciphertext: &[u8]) -> Result<Vec<u8>> {
        if let State::Header(pending) = &mut self.state {
            if !fill_header(pending, &mut ciphertext)? {
                return Ok(Vec::new());
            }
            let body = open_header(pending, &self.secret, &self.public)?;
            self.state = State::Body(Box::new(body));
        }
        match &mut self.state {
            State::Body(body) => body.update(ciphertext).map_err(RecordingError::from_body),
            State::Failed(error) => Err(*error),
            State::Header(_) => Err(RecordingError::MalformedHeader),
        }
    }
}

/// Moves bytes from `input` into the header being filled; true once it is whole.
fn fill_header(pending: &mut Vec<u8>, input: &mut &[u8]) -> Result<bool> {
    loop {
        let wanted = header_len_so_far(pending)?;
        if pending.len() == wanted {
            return Ok(true);
        }
        if input.is_empty() {
            return Ok(false);
        }
        let (taken, rest) = input.split_at((wanted - pending.len()).min(input.len()));
        pending.extend_from_slice(taken);
        *input = rest;
    }
}

/// Finds this owner's wrap in the whole header `bytes`, opens it, checks the header's tag under
/// the key; the body's decryptor, bound to the header.
fn open_header(
    bytes: &[u8],
    secret: &HpkeSecretKey,
    public: &RecordingOwnerPublic,
) -> Result<FileDecryptor> {
    let header = Header::parse(bytes)?;
    let wrap = header
        .wraps
        .iter()
        .find(|wrap| &wrap.owner == public.as_bytes())
        .ok_or(RecordingError::NotAnOwner)?;
    let key = open_wrap(wrap, &header.recording_id, secret, public)?;
    let (untagged, _) = bytes
        .split_last_chunk::<TAG_BYTES>()
        .ok_or(RecordingError::MalformedHeader)?;
    header_mac(&key, untagged)?
        .verify_slice(&header.tag)
        .map_err(|_| RecordingError::Tampered)?;
    Ok(FileDecryptor::open_ended(&key, &Sha256::digest(bytes)))
}

fn open_wrap(
    wrap: &Wrap,
    recording_id: &[u8; RECORDING_ID_BYTES],
    secret: &HpkeSecretKey,
    public: &RecordingOwnerPublic,
) -> Result<FileKey> {
    let sealed = HpkeCiphertext {
        kem_output: wrap.enc.to_vec(),
        ciphertext: wrap.sealed_key.to_vec(),
    };
    let info = wrap_info(recording_id, public.as_bytes());
    let key = cipher_suite_provider()
        .map_err(|_| RecordingError::Crypto)?
        .hpke_open(&sealed, secret, &public.hpke(), &info, None)
        .map_err(|_| RecordingError::WrapDoesNotOpen)?;
    FileKey::from_bytes(&key).map_err(|_| RecordingError::WrapDoesNotOpen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What HPKE derives from `enc` with `secret` (the receiver's public key fixed): equal for
    /// two unrelated secrets only if Diffie-Hellman with `enc` gives the same output, zero.
    fn decapsulated(enc: &[u8], secret: &HpkeSecretKey, public: &HpkePublicKey) -> Vec<u8> {
        use mls_rs::crypto::HpkeContextR;
        let suite = cipher_suite_provider().unwrap();
        let context = suite.hpke_setup_r(enc, secret, public, b"").unwrap();
        context.export(b"test", 32).unwrap().to_vec()
    }

    #[test]
    fn small_order_keys_are_refused_in_every_encoding() {
        let suite = cipher_suite_provider().unwrap();
        let (first, public) = suite.kem_generate().unwrap();
        let (second, _) = suite.kem_generate().unwrap();
        for key in LOW_ORDER_KEYS {
            let mut high = key;
            high[KEY_BYTES - 1] |= 0x80;
            for bytes in [key, high] {
                assert_eq!(
                    decapsulated(&bytes, &first, &public),
                    decapsulated(&bytes, &second, &public),
                    "{bytes:02x?} is of small order"
                );
                assert_eq!(
                    RecordingOwnerPublic::from_bytes(&bytes),
                    Err(RecordingError::InvalidPublicKey),
                    "{bytes:02x?}"
                );
            }
        }
        // The check tells: an ordinary key gives two secrets two outputs.
        let ordinary = RecordingOwnerKey::generate().unwrap().public_key();
        assert_ne!(
            decapsulated(ordinary.as_bytes(), &first, &public),
            decapsulated(ordinary.as_bytes(), &second, &public)
        );
    }

    #[test]
    fn a_header_measures_itself_as_it_arrives() {
        assert_eq!(header_len_so_far(b""), Ok(FIXED_HEADER_BYTES));
        assert_eq!(header_len_so_far(b"SR"), Ok(FIXED_HEADER_BYTES));
        assert_eq!(
            header_len_so_far(b"SRF1"),
            Err(RecordingError::MalformedHeader)
        );
        let mut fixed = [0; FIXED_HEADER_BYTES];
        fixed[..4].copy_from_slice(MAGIC);
        let with_count = |count: u8| {
            let mut bytes = fixed;
            bytes[FIXED_HEADER_BYTES - 1] = count;
            header_len_so_far(&bytes)
        };
        assert_eq!(with_count(0), Err(RecordingError::MalformedHeader));
        assert_eq!(with_count(2), Ok(21 + 2 * 112 + 32));
        assert_eq!(with_count(17), Err(RecordingError::TooManyOwners));
    }

    #[test]
    fn a_header_is_read_without_a_key_and_only_when_whole() {
        let alice = RecordingOwnerKey::generate().unwrap().public_key();
        let bob = RecordingOwnerKey::generate().unwrap().public_key();
        let (mut recorder, header) = RecordingEncryptor::new(&[alice, bob]).unwrap();
        let mut stream = header.clone();
        stream.extend(recorder.update(&[7; 70_000]).unwrap());
        let read = read_header(&stream).unwrap();
        assert_eq!(read.recording_id, recorder.recording_id());
        assert_eq!(read.owners, [alice, bob]);
        assert_eq!(read.len, header.len());
        assert_eq!(read_header(&header), Ok(read));
        assert_eq!(
            read_header(&header[..header.len() - 1]),
            Err(RecordingError::MalformedHeader)
        );
        assert_eq!(read_header(b"SRR1"), Err(RecordingError::MalformedHeader));
        let mut zero_key = header.clone();
        zero_key[FIXED_HEADER_BYTES..FIXED_HEADER_BYTES + KEY_BYTES].fill(0);
        assert_eq!(
            read_header(&zero_key),
            Err(RecordingError::InvalidPublicKey)
        );
    }

    #[test]
    fn only_the_owner_opens_its_challenge_and_a_changed_one_fails() {
        let owner = RecordingOwnerKey::generate().unwrap();
        let other = RecordingOwnerKey::generate().unwrap();
        let nonce = [42; OWNER_NONCE_BYTES];
        let sealed = seal_owner_challenge(&owner.public_key(), &nonce).unwrap();
        assert_eq!(sealed.len(), KEY_BYTES + OWNER_NONCE_BYTES + 16);
        assert_eq!(owner.open_owner_challenge(&sealed), Ok(nonce));
        assert_eq!(
            other.open_owner_challenge(&sealed),
            Err(RecordingError::ChallengeDoesNotOpen)
        );
        for at in [0, KEY_BYTES, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[at] ^= 1;
            assert_eq!(
                owner.open_owner_challenge(&tampered),
                Err(RecordingError::ChallengeDoesNotOpen),
                "byte {at}"
            );
        }
        for cut in [0, KEY_BYTES - 1, sealed.len() - 1] {
            assert_eq!(
                owner.open_owner_challenge(&sealed[..cut]),
                Err(RecordingError::ChallengeDoesNotOpen)
            );
        }
        // A challenge is not a wrap: the same seal under the wrap's info does not open.
        let wrap_info = wrap_info(&[0; RECORDING_ID_BYTES], owner.public_key().as_bytes());
        let as_wrap = cipher_suite_provider()
            .unwrap()
            .hpke_seal(&owner.public_key().hpke(), &wrap_info, None, &nonce)
            .unwrap();
        let as_wrap = [as_wrap.kem_output, as_wrap.ciphertext].concat();
        assert_eq!(
            owner.open_owner_challenge(&as_wrap),
            Err(RecordingError::ChallengeDoesNotOpen)
        );
        assert_ne!(
            seal_owner_challenge(&owner.public_key(), &nonce).unwrap(),
            sealed,
            "fresh each time"
        );
    }
}
