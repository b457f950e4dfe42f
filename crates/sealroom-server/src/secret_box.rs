//! Secrets at rest: what the database keeps that would let its reader act as the server or as
//! a user — the MLS external-sender key, TOTP seeds — is sealed with AES-256-GCM under a key
//! kept outside the database: `SEALROOM_SECRETS_KEY` (32 bytes, base64), or else the file
//! `secrets.key` in the data directory (made on first start, mode 0600; a wider mode is refused).
//! A copy of the database alone (a backup, a stolen file) opens none of them. Each sealed value
//! names its purpose in the associated data, so one cannot be moved into another's place.

use std::{io::Write, path::Path};

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use zeroize::Zeroizing;

/// The variable that carries the key instead of the file.
pub const KEY_VARIABLE: &str = "SEALROOM_SECRETS_KEY";
/// The key file's name in the data directory.
pub const KEY_FILE: &str = "secrets.key";
/// What a sealed value starts with: its format's version.
const MAGIC: &[u8; 4] = b"SRS1";
const NONCE_BYTES: usize = 12;

/// Why the key could not be had, or a value not opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{KEY_VARIABLE} must be 32 bytes in base64")]
    BadVariable,
    #[error("{0} must hold 32 bytes")]
    BadFile(String),
    #[error("{0} may be read by others (mode {1:o}): make it 0600")]
    OpenFile(String, u32),
    #[error("key file: {0}")]
    Io(#[from] std::io::Error),
    /// Sealed under another key, altered, or moved from another purpose.
    #[error("a sealed secret does not open with this server's key (the wrong {KEY_FILE}?)")]
    Unopened,
}

/// The key that seals the database's secrets.
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl SecretBox {
    /// The key from the variable, else from the data directory's key file (made if missing).
    pub fn load(data_dir: &Path) -> Result<Self, SecretError> {
        let key = match std::env::var(KEY_VARIABLE) {
            Ok(text) => Zeroizing::new(
                STANDARD
                    .decode(text.trim())
                    .map_err(|_| SecretError::BadVariable)?,
            ),
            Err(_) => key_file(&data_dir.join(KEY_FILE))?,
        };
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| SecretError::BadVariable)?;
        Ok(Self { cipher })
    }

    /// `secret` sealed for `purpose`: MAGIC, a random nonce, the ciphertext.
    pub fn seal(&self, purpose: &str, secret: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let payload = Payload {
            msg: secret,
            aad: purpose.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&nonce.into(), payload)
            .expect("AES-GCM seals any secret shorter than 64 GiB");
        [MAGIC.as_slice(), &nonce, &sealed].concat()
    }

    /// What `sealed` holds, if it was sealed for `purpose` under this key.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let rest = sealed
            .strip_prefix(MAGIC.as_slice())
            .ok_or(SecretError::Unopened)?;
        let (nonce, ciphertext) = rest
            .split_at_checked(NONCE_BYTES)
            .ok_or(SecretError::Unopened)?;
        let payload = Payload {
            msg: ciphertext,
            aad: purpose.as_bytes(),
        };
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SecretError::Unopened)?;
        self.cipher
            .decrypt(&nonce.into(), payload)
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Unopened)
    }

    /// Whether `value` is sealed (else it was written before secrets were sealed).
    pub fn is_sealed(value: &[u8]) -> bool {
        value.starts_with(MAGIC)
    }

    /// [`Self::seal`] as text, for a text column.
    pub fn seal_text(&self, purpose: &str, secret: &str) -> String {
        STANDARD.encode(self.seal(purpose, secret.as_bytes()))
    }

    /// [`Self::open`] of [`Self::seal_text`]'s text.
    pub fn open_text(&self, purpose: &str, sealed: &str) -> Result<Zeroizing<String>, SecretError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SecretError::Unopened)?;
        let opened = self.open(purpose, &bytes)?;
        String::from_utf8(opened.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Unopened)
    }

    /// Whether a text column's value is sealed.
    pub fn is_sealed_text(value: &str) -> bool {
        STANDARD
            .decode(value)
            .is_ok_and(|bytes| Self::is_sealed(&bytes))
    }
}

/// The key file's 32 bytes, made (mode 0600) if it does not exist.
fn key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
            return Err(SecretError::OpenFile(
                path.display().to_string(),
                meta.permissions().mode() & 0o777,
            ));
        }
        Ok(_) => {
            let key = Zeroizing::new(std::fs::read(path)?);
            return if key.len() == 32 {
                Ok(key)
            } else {
                Err(SecretError::BadFile(path.display().to_string()))
            };
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let key = Zeroizing::new(rand::random::<[u8; 32]>().to_vec());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(&key)?;
    file.sync_all()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_for_its_purpose_under_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = SecretBox::load(dir.path()).unwrap();
        let sealed = secrets.seal("totp alice", b"seed");
        assert_eq!(
            secrets.open("totp alice", &sealed).unwrap().as_slice(),
            b"seed"
        );
        assert!(matches!(
            secrets.open("totp bob", &sealed),
            Err(SecretError::Unopened)
        ));
        let other = tempfile::tempdir().unwrap();
        let elsewhere = SecretBox::load(other.path()).unwrap();
        assert!(matches!(
            elsewhere.open("totp alice", &sealed),
            Err(SecretError::Unopened)
        ));
        let again = SecretBox::load(dir.path()).unwrap();
        assert_eq!(
            again.open("totp alice", &sealed).unwrap().as_slice(),
            b"seed",
            "the same key file"
        );
    }

    #[test]
    fn the_key_file_is_private_and_a_readable_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        SecretBox::load(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            SecretBox::load(dir.path()),
            Err(SecretError::OpenFile(_, 0o644))
        ));
    }
}
