//! Room and display names: a value of these types has been validated.

mod format_characters;

use std::fmt;

use format_characters::is_format_character;

/// Longest room name, in bytes.
pub const MAX_ROOM_NAME_BYTES: usize = 64;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// A room name: 1 to 64 of `a-z`, `0-9` and `-`, so it is safe in a URL path and a log line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(String);

impl RoomName {
    /// Validates a room name.
    pub fn parse(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.len() <= MAX_ROOM_NAME_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        valid.then(|| Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: 1 to 64 characters, no control or format characters (bidirectional
/// overrides, zero-width characters: they would make it read as other text), not only white
/// space.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    /// Validates a display name.
    pub fn parse(name: &str) -> Option<Self> {
        let valid = !name.trim().is_empty()
            && name.chars().count() <= MAX_DISPLAY_NAME_CHARS
            && !name
                .chars()
                .any(|c| c.is_control() || is_format_character(c));
        valid.then(|| Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_that_would_read_as_other_text_are_refused() {
        for bad in [
            "Mallory\u{202E}gnp.exe",
            "\u{2067}Alice",
            "Al\u{200B}ice",
            "Bob\u{200D}",
            "\u{FEFF}Carol",
            "Dave\u{061C}",
            "Eve\u{2060}",
            "tag\u{E0041}",
            "soft\u{AD}hyphen",
        ] {
            assert!(DisplayName::parse(bad).is_none(), "{bad:?}");
        }
        for good in ["Zoë Ōsaka", "李小龍", "مريم", "Alex 🙂"] {
            assert!(DisplayName::parse(good).is_some(), "{good:?}");
        }
    }
}
