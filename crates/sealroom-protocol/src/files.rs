//! What members' clients say to each other in application messages of kind
//! [`ApplicationKind::File`](crate::ApplicationKind::File): a file offer. The file is in the
//! server's blob store, encrypted in chunks under a fresh key before it left the sender's device;
//! the offer, inside MLS (the server never reads it), says which blob it is, what the file is
//! called, and carries the key that opens it and the SHA-256 that checks it.

use serde::{Deserialize, Serialize};

use crate::Bytes;

/// Longest file name, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;

/// Longest media type, in characters.
pub const MAX_MIME_CHARS: usize = 127;

/// Characters of a blob id: 128 bits as lowercase hex.
pub const BLOB_ID_CHARS: usize = 32;

/// Bytes of a file key (AES-256) and of a SHA-256.
const KEY_BYTES: usize = 32;
const SHA256_BYTES: usize = 32;

/// A file a member shares, as the sender's client encodes it inside the MLS application message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOffer {
    /// The server's id for the blob that holds the encrypted file.
    pub blob: String,
    /// The file's name, without a path: 1 to [`MAX_FILE_NAME_CHARS`] characters.
    pub name: String,
    /// The file's size in bytes (of the plaintext).
    pub size: u64,
    /// Its media type (`type/subtype`), or empty if unknown; a hint, never trusted to render.
    pub mime: String,
    /// The 32-byte key it is encrypted under.
    pub key: Bytes,
    /// The SHA-256 of the file, which commits the sender to one file.
    pub sha256: Bytes,
}

impl FileOffer {
    /// Whether a client sends and shows the offer.
    pub fn is_acceptable(&self) -> bool {
        self.check().is_ok()
    }

    /// What makes the offer one a client neither sends nor shows, if anything.
    pub fn check(&self) -> Result<(), &'static str> {
        if !is_blob_id(&self.blob) {
            return Err("the blob id is not 32 lowercase hex digits");
        }
        if !is_file_name(&self.name) {
            return Err(
                "a file name has 1 to 255 characters, none of them /, \\ or a control \
                        character, and is not . or ..",
            );
        }
        if !is_media_type(&self.mime) {
            return Err("a media type is type/subtype, at most 127 characters, or empty");
        }
        if self.key.0.len() != KEY_BYTES || self.sha256.0.len() != SHA256_BYTES {
            return Err("a file key and a SHA-256 are 32 bytes each");
        }
        Ok(())
    }
}

fn is_blob_id(blob: &str) -> bool {
    blob.len() == BLOB_ID_CHARS && blob.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

/// A name to save a file under, never a path: `.` and `..` name directories.
fn is_file_name(name: &str) -> bool {
    let chars = name.chars().count();
    let allowed = |c: char| !matches!(c, '/' | '\\') && !c.is_control();
    (1..=MAX_FILE_NAME_CHARS).contains(&chars)
        && name.chars().all(allowed)
        && name != "."
        && name != ".."
}

/// `type/subtype` of RFC 6838's restricted names, without parameters; or empty.
fn is_media_type(mime: &str) -> bool {
    let name = |part: &str| {
        let mut chars = part.chars();
        let restricted = |c: char| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c);
        chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) && chars.all(restricted)
    };
    let well_formed = mime
        .split_once('/')
        .is_some_and(|(kind, subtype)| name(kind) && name(subtype));
    mime.is_empty() || (mime.len() <= MAX_MIME_CHARS && well_formed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    fn offer() -> FileOffer {
        FileOffer {
            blob: "0123456789abcdef0123456789abcdef".into(),
            name: "report.pdf".into(),
            size: 1_048_576,
            mime: "application/pdf".into(),
            key: Bytes(vec![7; 32]),
            sha256: Bytes(vec![9; 32]),
        }
    }

    fn with(change: impl FnOnce(&mut FileOffer)) -> FileOffer {
        let mut offer = offer();
        change(&mut offer);
        offer
    }

    #[test]
    fn an_offer_travels_as_json_and_nothing_may_be_added() {
        let offer = offer();
        assert_eq!(decode::<FileOffer>(&encode(&offer)).unwrap(), offer);
        let body = serde_json::to_string(&offer).unwrap();
        let extended = body.replace("\"size\"", "\"path\":\"/etc\",\"size\"");
        assert!(serde_json::from_str::<FileOffer>(&extended).is_err());
    }

    #[test]
    fn a_file_name_is_a_name_not_a_path() {
        for name in ["a", "Ünïcødé 📄.tar.gz", "..hidden", &"x".repeat(255)] {
            assert!(with(|o| o.name = name.into()).is_acceptable(), "{name:?}");
        }
        for name in [
            "",
            "a/b",
            "a\\b",
            "a\nb",
            "a\u{7f}",
            ".",
            "..",
            &"x".repeat(256),
        ] {
            assert!(!with(|o| o.name = name.into()).is_acceptable(), "{name:?}");
        }
    }

    #[test]
    fn a_media_type_is_type_slash_subtype_or_nothing() {
        for mime in [
            "",
            "image/svg+xml",
            "application/vnd.ms-excel",
            "text/plain",
        ] {
            assert!(with(|o| o.mime = mime.into()).is_acceptable(), "{mime:?}");
        }
        let long = format!("application/{}", "x".repeat(116));
        for mime in [
            "pdf",
            "/pdf",
            "text/",
            "a/b/c",
            "text/plain; charset=utf-8",
            &long,
        ] {
            assert!(!with(|o| o.mime = mime.into()).is_acceptable(), "{mime:?}");
        }
    }

    #[test]
    fn the_key_the_hash_and_the_blob_id_have_their_sizes() {
        assert!(!with(|o| o.key = Bytes(vec![7; 16])).is_acceptable());
        assert!(!with(|o| o.sha256 = Bytes(vec![9; 33])).is_acceptable());
        for blob in [
            "0123",
            "0123456789ABCDEF0123456789ABCDEF",
            "../../0123456789abcdef01234567",
        ] {
            assert!(!with(|o| o.blob = blob.into()).is_acceptable(), "{blob:?}");
        }
    }
}
