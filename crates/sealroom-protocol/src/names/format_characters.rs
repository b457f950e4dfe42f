//! Unicode's format characters (general category Cf), which change how the text around them is
//! shown without being seen: a right-to-left override makes "Mallory\u{202E}gnp.exe" read
//! "Malloryexe.png", a zero-width space makes a name that looks like another differ from it.
//! sealroom-e2ee includes this file by path for its credential names (it does not depend on
//! sealroom-protocol).

/// Whether `c` is a format character (general category Cf, Unicode 16).
pub fn is_format_character(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{600}'..='\u{605}'
            | '\u{61C}'
            | '\u{6DD}'
            | '\u{70F}'
            | '\u{890}'..='\u{891}'
            | '\u{8E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}
