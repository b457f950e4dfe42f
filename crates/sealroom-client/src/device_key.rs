//! The device's MLS signature key kept in a file, so that the device keeps its fingerprint from
//! one meeting to the next: a "verified" mark then lasts, and "key changed" means it changed.
//! The file holds the secret key alone (the name goes with each join), readable by its owner
//! only (mode 0600); one that others may read is refused, as ssh refuses such a private key.

use std::{
    fs::{self, OpenOptions},
    io::{ErrorKind, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use sealroom_e2ee::DeviceIdentity;

use crate::session::SessionError;

/// The identity in `path` under `credential_name`, made and saved there first if the file does
/// not exist.
pub(crate) fn load_or_create(
    path: &Path,
    credential_name: &str,
) -> Result<DeviceIdentity, SessionError> {
    match fs::metadata(path) {
        Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => Err(key_file_error(
            path,
            "others may read it; make it readable by its owner only (chmod 600)",
        )),
        Ok(_) => {
            let secret =
                zeroize::Zeroizing::new(fs::read(path).map_err(|e| key_file_error(path, e))?);
            Ok(DeviceIdentity::from_secret_bytes(credential_name, &secret)?)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => create(path, credential_name),
        Err(e) => Err(key_file_error(path, e)),
    }
}

fn create(path: &Path, credential_name: &str) -> Result<DeviceIdentity, SessionError> {
    let identity = DeviceIdentity::generate(credential_name)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| key_file_error(path, e))?;
    file.write_all(&identity.to_secret_bytes())
        .map_err(|e| key_file_error(path, e))?;
    Ok(identity)
}

fn key_file_error(path: &Path, error: impl std::fmt::Display) -> SessionError {
    SessionError::DeviceKey(format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_device_key_keeps_its_fingerprint_and_its_privacy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device-key");
        let first = load_or_create(&path, "alice").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = load_or_create(&path, "alice at home").unwrap();
        assert_eq!(
            again.fingerprint(),
            first.fingerprint(),
            "the same device, another name"
        );

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let refused = load_or_create(&path, "alice").unwrap_err().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, b"not a key").unwrap();
        assert!(
            load_or_create(&path, "alice").is_err(),
            "a damaged file is an error, not a new key"
        );
    }
}
