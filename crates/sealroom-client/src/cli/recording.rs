//! `sealroom recording`: the owner's side of end-to-end encrypted recordings. `keygen` makes an
//! owner key, `public-key` shows it again, `decrypt` opens a recording; `encrypt` plays the
//! recorder for a file (tests, and recordings made outside a meeting).
//!
//! A decrypted recording is written as a received file is: into a hidden temporary file next to
//! its destination, which takes the destination's name only once the whole recording checked
//! out, so a recording cut short or altered leaves nothing behind.

use std::{
    fs::{self, OpenOptions},
    io::{ErrorKind, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::anyhow;
use clap::Subcommand;
use sealroom_e2ee::{
    RecordingDecryptor, RecordingEncryptor, RecordingError, RecordingOwnerKey, RecordingOwnerPublic,
};
use tokio::io::AsyncReadExt;
use zeroize::Zeroizing;

use crate::files::PartialFile;

/// Bytes read from the input at a time.
const READ_BYTES: usize = 1024 * 1024;

/// `sealroom recording` subcommands.
#[derive(Subcommand, Debug)]
pub enum RecordingCommand {
    /// Make a recording owner key: writes its secret key to a new file (mode 0600, never
    /// overwritten) and prints its public key, for recorders and the server's configuration,
    /// and its fingerprint.
    Keygen {
        /// The secret key file to make.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key of an owner's secret key file.
    PublicKey {
        /// The owner's secret key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Decrypt a recording with an owner's secret key. Nothing is written to OUT unless the
    /// whole recording decrypts and authenticates.
    Decrypt {
        /// The owner's secret key file.
        #[arg(long)]
        key: PathBuf,
        /// Where the decrypted recording goes (a new file).
        #[arg(long)]
        out: PathBuf,
        /// The encrypted recording.
        input: PathBuf,
    },
    /// Encrypt a file as a recorder does, to the public keys of its owners.
    Encrypt {
        /// An owner's public key, as `keygen` prints it (repeat for several, at most 16).
        #[arg(long = "owner", value_name = "PUBLIC_KEY", required = true)]
        owners: Vec<String>,
        /// Where the encrypted recording goes (a new file).
        #[arg(long)]
        out: PathBuf,
        /// The file to encrypt.
        input: PathBuf,
    },
}

/// Runs `sealroom recording …`.
pub async fn run_recording(command: RecordingCommand) -> anyhow::Result<()> {
    match command {
        RecordingCommand::Keygen { out } => keygen(&out),
        RecordingCommand::PublicKey { key } => {
            println!("{}", read_key(&key)?.public_key().to_base64url());
            Ok(())
        }
        RecordingCommand::Decrypt { key, out, input } => decrypt(&key, &out, &input).await,
        RecordingCommand::Encrypt { owners, out, input } => encrypt(&owners, &out, &input).await,
    }
}

fn keygen(out: &Path) -> anyhow::Result<()> {
    let key = RecordingOwnerKey::generate()?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => anyhow!(
                "{}: already exists: a recording key is never overwritten (the recordings \
                 sealed to it could no longer be decrypted)",
                out.display()
            ),
            _ => anyhow!("{}: {e}", out.display()),
        })?;
    if let Err(e) = file
        .write_all(&key.to_bytes())
        .and_then(|()| file.sync_all())
    {
        let _ = fs::remove_file(out);
        return Err(anyhow!("{}: {e}", out.display()));
    }
    let public = key.public_key();
    println!("public key: {}", public.to_base64url());
    println!("fingerprint: {}", public.fingerprint());
    eprintln!(
        "secret key written to {}: keep it secret, and keep a copy; without it, no recording \
         sealed to this key can be decrypted",
        out.display()
    );
    Ok(())
}

/// An owner's secret key file, readable by its owner only (as `ssh` wants a private key).
fn read_key(path: &Path) -> anyhow::Result<RecordingOwnerKey> {
    let in_path = |e: &dyn std::fmt::Display| anyhow!("{}: {e}", path.display());
    let metadata = fs::metadata(path).map_err(|e| in_path(&e))?;
    if metadata.permissions().mode() & 0o077 != 0 {
        let why = "others may read it; make it readable by its owner only (chmod 600)";
        return Err(in_path(&why));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| in_path(&e))?);
    RecordingOwnerKey::from_bytes(&bytes).map_err(|e| in_path(&e))
}

async fn decrypt(key: &Path, out: &Path, input: &Path) -> anyhow::Result<()> {
    let owner = read_key(key)?;
    let (dir, name) = new_file_place(out)?;
    let failed = |e: RecordingError| {
        anyhow!(
            "{}: cannot decrypt: {e} ({}); nothing was written to {}",
            input.display(),
            e.code(),
            out.display()
        )
    };
    let mut decryptor = RecordingDecryptor::new(&owner);
    let mut partial = PartialFile::create(&dir).await?;
    let size = pipe(input, &mut partial, |piece| {
        decryptor.update(piece).map_err(failed)
    })
    .await?;
    partial.write(&decryptor.finish().map_err(failed)?).await?;
    partial.keep_new(&name).await?;
    println!(
        "decrypted {} ({size} bytes) to {}",
        input.display(),
        out.display()
    );
    Ok(())
}

async fn encrypt(owners: &[String], out: &Path, input: &Path) -> anyhow::Result<()> {
    let owners = owners
        .iter()
        .map(|text| RecordingOwnerPublic::parse(text).map_err(|e| anyhow!("--owner {text}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (dir, name) = new_file_place(out)?;
    let (mut encryptor, header) = RecordingEncryptor::new(&owners)?;
    let mut partial = PartialFile::create(&dir).await?;
    partial.write(&header).await?;
    pipe(input, &mut partial, |piece| Ok(encryptor.update(piece)?)).await?;
    partial.write(&encryptor.finish()?).await?;
    partial.keep_new(&name).await?;
    println!("encrypted {} to {} for:", input.display(), out.display());
    for owner in &owners {
        println!("  owner {}", owner.fingerprint());
    }
    Ok(())
}

/// Reads `input` to its end, writing what `transform` makes of each piece; the bytes read.
async fn pipe(
    input: &Path,
    partial: &mut PartialFile,
    mut transform: impl FnMut(&[u8]) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<u64> {
    let in_input = |e: std::io::Error| anyhow!("{}: {e}", input.display());
    let mut source = tokio::fs::File::open(input).await.map_err(in_input)?;
    let mut buffer = vec![0; READ_BYTES];
    let mut read = 0;
    loop {
        let n = source.read(&mut buffer).await.map_err(in_input)?;
        if n == 0 {
            return Ok(read);
        }
        read += n as u64;
        partial.write(&transform(&buffer[..n])?).await?;
    }
}

/// The directory and the name of `out`, a file that must not exist yet.
fn new_file_place(out: &Path) -> anyhow::Result<(PathBuf, String)> {
    let name = out
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", out.display()))?
        .to_string_lossy()
        .into_owned();
    if fs::symlink_metadata(out).is_ok() {
        return Err(anyhow!("{}: already exists", out.display()));
    }
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_others_may_read_or_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owner.key");
        keygen(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let kept = read_key(&path).unwrap().public_key();
        let again = keygen(&path).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
        assert_eq!(
            read_key(&path).unwrap().public_key(),
            kept,
            "not overwritten"
        );

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let refused = read_key(&path).err().unwrap().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, b"not a key").unwrap();
        let damaged = read_key(&path).err().unwrap().to_string();
        assert!(
            damaged.contains("not a recording owner secret key"),
            "{damaged}"
        );
    }

    #[test]
    fn the_output_is_a_new_file_in_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("taken");
        fs::write(&taken, b"mine").unwrap();
        assert!(new_file_place(&taken).is_err());
        assert!(new_file_place(Path::new("/")).is_err());
        let (here, name) = new_file_place(Path::new("out.webm")).unwrap();
        assert_eq!((here, name.as_str()), (PathBuf::from("."), "out.webm"));
    }
}
