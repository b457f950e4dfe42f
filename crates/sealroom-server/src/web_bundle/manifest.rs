//! The manifest of a web bundle and its hash: the one definition the server, the page's
//! security panel (which hashes the text the server serves) and `sealroom verify-web` share.

use std::{collections::BTreeMap, fmt};

use sha2::{Digest, Sha256};

/// The SHA-256 of every file of a bundle, by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    files: BTreeMap<String, [u8; 32]>,
}

/// A manifest text that is not in the canonical form [`Manifest::text`] writes.
#[derive(Debug, thiserror::Error)]
#[error("not a canonical web bundle manifest (line {line}): {reason}")]
pub struct ManifestError {
    line: usize,
    reason: &'static str,
}

/// One way a served bundle differs from the expected one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// Served with other bytes.
    Differs(String),
    /// Expected, not served.
    Missing(String),
    /// Served (or listed), not expected.
    Unexpected(String),
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Differs(path) => write!(f, "{path}: differs"),
            Self::Missing(path) => write!(f, "{path}: not served"),
            Self::Unexpected(path) => write!(f, "{path}: served, but not in the expected bundle"),
        }
    }
}

impl Manifest {
    /// Hashes each of `files` (path, contents).
    pub fn of<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let files = files
            .into_iter()
            .map(|(path, contents)| (path.to_owned(), Sha256::digest(contents).into()))
            .collect();
        Self { files }
    }

    /// The canonical text: a line `<SHA-256 in lowercase hex>  <path>` per file, in byte order
    /// of the paths, each ending in `\n`. It is `sha256sum`'s output format, so `sha256sum -c`
    /// checks a directory against it.
    pub fn text(&self) -> String {
        self.files
            .iter()
            .map(|(path, hash)| format!("{}  {path}\n", hex::encode(hash)))
            .collect()
    }

    /// The bundle hash: the SHA-256 of [`Self::text`], in lowercase hex.
    pub fn bundle_hash(&self) -> String {
        hex::encode(Sha256::digest(self.text()))
    }

    /// Reads a manifest in canonical form only: what `parse` accepts, [`Self::text`] writes
    /// back byte for byte, so a hash of the text is a hash of the manifest.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let mut files = BTreeMap::new();
        for (index, line) in text.split_terminator('\n').enumerate() {
            let error = |reason| ManifestError {
                line: index + 1,
                reason,
            };
            let (hash, path) = line.split_once("  ").ok_or(error("no two spaces"))?;
            let mut digest = [0; 32];
            hex::decode_to_slice(hash, &mut digest).map_err(|_| error("not a SHA-256"))?;
            files.insert(path.to_owned(), digest);
        }
        let manifest = Self { files };
        if manifest.text() != text {
            return Err(ManifestError {
                line: 0,
                reason: "not sorted, repeated paths, upper-case hex or no final newline",
            });
        }
        Ok(manifest)
    }

    /// Every path, in byte order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The SHA-256 of the file at `path`.
    pub fn hash_of(&self, path: &str) -> Option<&[u8; 32]> {
        self.files.get(path)
    }

    /// Every file of this (the expected) manifest that `served` lacks or has with other bytes,
    /// and every file `served` has that this lacks, in byte order of the paths.
    pub fn differences(&self, served: &Manifest) -> Vec<Difference> {
        let mut paths: Vec<&str> = self.paths().chain(served.paths()).collect();
        paths.sort_unstable();
        paths.dedup();
        paths
            .into_iter()
            .filter_map(|path| match (self.hash_of(path), served.hash_of(path)) {
                (Some(expected), Some(got)) if expected == got => None,
                (Some(_), Some(_)) => Some(Difference::Differs(path.to_owned())),
                (Some(_), None) => Some(Difference::Missing(path.to_owned())),
                (None, _) => Some(Difference::Unexpected(path.to_owned())),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: &[(&str, &str)]) -> Manifest {
        Manifest::of(files.iter().map(|(path, body)| (*path, body.as_bytes())))
    }

    #[test]
    fn the_bundle_hash_is_sha256_of_sha256sums_output() {
        let m = manifest(&[("index.html", "<p>"), ("app.js", "1")]);
        // `sha256sum app.js index.html > m.txt; sha256sum m.txt` with those contents.
        assert_eq!(
            m.text(),
            "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b  app.js\n\
             33f2799467177287a29260780a107ac98ea63dd6165f67fcc0d74767d0a82090  index.html\n"
        );
        assert_eq!(
            m.bundle_hash(),
            "279708af908305aed916017f43263e9674b9a6629c17ee9bc1039b880cf2f95c"
        );
    }

    #[test]
    fn only_the_canonical_text_parses() {
        let m = manifest(&[("index.html", "<p>"), ("app.js", "1")]);
        let text = m.text();
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        let lines: Vec<&str> = text.lines().collect();
        for other in [
            format!("{}\n{}\n", lines[1], lines[0]),
            format!("{}\n{}", lines[0], lines[1]),
            text.to_uppercase(),
            format!("{}\n{}\n", lines[0], lines[0]),
            "not a manifest\n".to_owned(),
        ] {
            assert!(Manifest::parse(&other).is_err(), "{other:?}");
        }
    }

    #[test]
    fn differences_name_each_file() {
        let expected = manifest(&[("index.html", "<p>"), ("app.js", "1"), ("a.css", "")]);
        let served = manifest(&[("index.html", "<p>"), ("app.js", "2"), ("evil.js", "")]);
        assert_eq!(
            expected.differences(&served),
            [
                Difference::Missing("a.css".into()),
                Difference::Differs("app.js".into()),
                Difference::Unexpected("evil.js".into()),
            ]
        );
        assert!(expected.differences(&expected.clone()).is_empty());
    }
}
