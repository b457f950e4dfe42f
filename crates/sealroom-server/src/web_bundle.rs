//! The browser client as the server serves it, and the *bundle hash* that names it (review
//! finding H2, docs/SECURITY-MODEL.md).
//!
//! A [`WebBundle`] is every file of a built web client (what web/build.mjs writes), by path:
//! the one embedded in the binary at build time (`--features embed-web`) or a directory
//! (`sealroom serve --web DIR`). Either is read once at start and served from memory
//! ([`router`]), so the files served are the files hashed. Its [`Manifest`] lists each file's
//! SHA-256, and the bundle hash is the SHA-256 of the manifest's canonical text. The server
//! serves that text at [`MANIFEST_PATH`] (the page shows its hash), and `sealroom verify-web`
//! ([`verify`]) hashes what a server actually serves with the same [`Manifest`].

mod manifest;
mod serve;
pub mod verify;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use axum::body::Bytes;

pub use manifest::{Difference, Manifest, ManifestError};
pub use serve::{MANIFEST_PATH, router};

/// The page every path that names no file gets (the single-page app).
pub const INDEX: &str = "index.html";

/// Every file of a built web client, by `/`-separated path relative to its root.
#[derive(Clone, Debug)]
pub struct WebBundle {
    files: BTreeMap<String, Bytes>,
}

/// Why a web client cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A directory could not be listed.
    #[error("listing the web client in {}: {source}", dir.display())]
    List {
        /// The bundle's directory.
        dir: PathBuf,
        /// What failed.
        source: walkdir::Error,
    },
    /// A file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The bundle has no page to serve.
    #[error("the web client has no {INDEX}: build it with scripts/build-web")]
    NoIndex,
    /// A file name that would need escaping in a URL or in the manifest.
    #[error("web client file {0:?}: only names of a-z, A-Z, 0-9, '.', '_' and '-' are served")]
    UnservableName(String),
}

impl WebBundle {
    /// A bundle of `files` (path, contents).
    pub fn new(files: impl IntoIterator<Item = (String, Bytes)>) -> Result<Self, BundleError> {
        let files: BTreeMap<String, Bytes> = files.into_iter().collect();
        if let Some(path) = files.keys().find(|path| !is_servable(path)) {
            return Err(BundleError::UnservableName(path.clone()));
        }
        if !files.contains_key(INDEX) {
            return Err(BundleError::NoIndex);
        }
        Ok(Self { files })
    }

    /// Every file under `dir`, in subdirectories too (symbolic links followed).
    pub fn read_dir(dir: &Path) -> Result<Self, BundleError> {
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(dir).follow_links(true) {
            let entry = entry.map_err(|source| BundleError::List {
                dir: dir.to_owned(),
                source,
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            let path = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let contents = std::fs::read(entry.path()).map_err(|source| BundleError::Read {
                path: entry.path().to_owned(),
                source,
            })?;
            files.push((path, Bytes::from(contents)));
        }
        Self::new(files)
    }

    /// The web client embedded in this binary at build time, if it was built with one.
    #[cfg(feature = "embed-web")]
    pub fn embedded() -> Result<Option<Self>, BundleError> {
        use std::borrow::Cow;
        let files = Embedded::iter().filter_map(|path| {
            let data = Embedded::get(&path)?.data;
            let bytes = match data {
                Cow::Borrowed(bytes) => Bytes::from_static(bytes),
                Cow::Owned(bytes) => Bytes::from(bytes),
            };
            Some((path.into_owned(), bytes))
        });
        Self::new(files).map(Some)
    }

    /// The web client embedded in this binary at build time: none without `embed-web`.
    #[cfg(not(feature = "embed-web"))]
    pub fn embedded() -> Result<Option<Self>, BundleError> {
        Ok(None)
    }

    /// Every file, by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes))
    }

    /// The SHA-256 of every file: whose hash is the bundle hash.
    pub fn manifest(&self) -> Manifest {
        Manifest::of(self.files().map(|(path, bytes)| (path, bytes.as_ref())))
    }
}

/// Whether a web client embeds in this binary (built with `embed-web`).
pub const EMBEDDED: bool = cfg!(feature = "embed-web");

/// The web client built into `$SEALROOM_WEB_DIST` when this binary was compiled (build.rs
/// checks the variable and rebuilds when the directory changes).
#[cfg(feature = "embed-web")]
#[derive(rust_embed::RustEmbed)]
#[folder = "$SEALROOM_WEB_DIST"]
struct Embedded;

/// `/`-separated names of letters, digits, `.`, `_` and `-` (not `.` or `..`): served at
/// `/<path>` and written in the manifest as they are.
fn is_servable(path: &str) -> bool {
    path.split('/').all(|name| {
        !matches!(name, "" | "." | "..")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(paths: &[&str]) -> Result<WebBundle, BundleError> {
        WebBundle::new(
            paths
                .iter()
                .map(|path| (path.to_string(), Bytes::from_static(b"x"))),
        )
    }

    #[test]
    fn a_bundle_needs_a_page_and_plain_names() {
        assert!(bundle(&["index.html", "app.js", "assets/logo.svg"]).is_ok());
        assert!(matches!(bundle(&["app.js"]), Err(BundleError::NoIndex)));
        for name in ["../secret", "a b.js", "a\n.js", "dir//x", "./x", "é.js"] {
            assert!(
                matches!(
                    bundle(&["index.html", name]),
                    Err(BundleError::UnservableName(_))
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_directory_is_read_with_its_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/app.js"), "1").unwrap();
        let bundle = WebBundle::read_dir(dir.path()).unwrap();
        let files: Vec<(&str, &[u8])> = bundle
            .files()
            .map(|(path, contents)| (path, contents.as_ref()))
            .collect();
        assert_eq!(
            files,
            [
                ("assets/app.js", &b"1"[..]),
                ("index.html", b"<!doctype html>")
            ]
        );
    }
}
