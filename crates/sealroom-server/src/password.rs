//! Room and account passwords: the central policy a new password must meet, and the argon2id
//! hash that is all the server keeps of it. Checking is deliberately slow (argon2id) and runs
//! off the async threads; a refused join costs the same whether the room exists or not, because
//! a join that names a missing room is checked against a dummy hash (and a sign-in that names a
//! missing account, likewise).

use std::sync::OnceLock;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};

/// Passwords refused whatever their length (compared lower-case).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Longest password accepted: argon2 hashes any length, but there is no reason to let a peer
/// make the server hash a megabyte.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Why a new password was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Shorter than the policy's minimum.
    #[error("a password needs at least {0} characters")]
    TooShort(usize),
    /// Longer than [`MAX_PASSWORD_CHARS`].
    #[error("a password has at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    /// On the list of common passwords.
    #[error("this password is too common")]
    Common,
}

/// The server-wide rules for passwords (NIST SP 800-63B §5.1.1.2: a minimum length and a
/// blocklist, no composition rules).
#[derive(Clone, Copy, Debug)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_chars: usize,
}

impl PasswordPolicy {
    /// Whether `password` may become a password.
    pub fn check(&self, password: &str) -> Result<(), PolicyError> {
        let chars = password.chars().count();
        if chars < self.min_chars {
            return Err(PolicyError::TooShort(self.min_chars));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(PolicyError::TooLong);
        }
        let lower = password.to_lowercase();
        let common = COMMON_PASSWORDS
            .lines()
            .filter(|line| !line.starts_with('#'))
            .any(|line| line == lower);
        if common {
            return Err(PolicyError::Common);
        }
        Ok(())
    }
}

/// A password as the server keeps it: an argon2id PHC string, never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPassword {
    phc: String,
}

impl std::fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredPassword(argon2id)")
    }
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(argon2::password_hash::Error);

/// argon2id with OWASP's smallest recommended setting (19 MiB, 2 passes, 1 lane): a password is
/// tried once per join or sign-in, and the rate limits bound online guessing far below what
/// these parameters would allow offline.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .unwrap_or_else(|e| unreachable!("constant argon2 parameters are valid: {e}"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl StoredPassword {
    /// Hashes a new password under a fresh random salt. Slow: call off the async threads.
    pub fn hash(password: &str) -> Result<Self, HashError> {
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes).map_err(HashError)?;
        let phc = hasher()
            .hash_password(password.as_bytes(), &salt)
            .map_err(HashError)?
            .to_string();
        Ok(Self { phc })
    }

    /// The PHC string, to store.
    pub fn phc(&self) -> &str {
        &self.phc
    }

    /// A stored PHC string (it is parsed when verified: a damaged one verifies nothing).
    pub fn from_phc(phc: String) -> Self {
        Self { phc }
    }

    /// Whether `candidate` is the password; the final comparison is constant-time (the
    /// `password-hash` crate compares outputs with `subtle`). Slow: call off the async threads.
    pub fn verify(&self, candidate: &str) -> bool {
        PasswordHash::new(&self.phc).is_ok_and(|hash| {
            hasher()
                .verify_password(candidate.as_bytes(), &hash)
                .is_ok()
        })
    }

    /// Spends the time of a verification and refuses: used when a join names a room that does
    /// not exist, or a sign-in an account that does not exist, so it takes as long as a wrong
    /// password.
    pub fn verify_against_nothing(candidate: &str) -> bool {
        if let Some(dummy) = dummy() {
            let _ = dummy.verify(candidate);
        }
        false
    }

    /// Makes the dummy hash [`StoredPassword::verify_against_nothing`] checks against, at
    /// start: made on first use instead, it would double the time of the first refusal for a
    /// missing room or account, and so tell it from a wrong password. Slow: call off the async
    /// threads.
    pub fn prepare_dummy() {
        dummy();
    }
}

fn dummy() -> Option<&'static StoredPassword> {
    static DUMMY: OnceLock<Option<StoredPassword>> = OnceLock::new();
    DUMMY
        .get_or_init(|| StoredPassword::hash("nobody has this").ok())
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_wants_length_and_refuses_common_passwords() {
        let policy = PasswordPolicy { min_chars: 8 };
        assert_eq!(policy.check("short"), Err(PolicyError::TooShort(8)));
        assert_eq!(policy.check("Password1"), Err(PolicyError::Common));
        assert_eq!(policy.check("12345678"), Err(PolicyError::Common));
        assert_eq!(
            policy.check(&"x".repeat(MAX_PASSWORD_CHARS + 1)),
            Err(PolicyError::TooLong)
        );
        assert_eq!(policy.check("velvet harbour sings"), Ok(()));
        // Length counts characters, not bytes.
        assert_eq!(policy.check("ééééééé"), Err(PolicyError::TooShort(8)));
    }

    #[test]
    fn only_the_right_password_verifies_and_the_hash_is_argon2id() {
        let stored = StoredPassword::hash("velvet harbour sings").unwrap();
        assert!(stored.phc.starts_with("$argon2id$"));
        assert!(!stored.phc.contains("velvet"));
        assert!(stored.verify("velvet harbour sings"));
        assert!(!stored.verify("velvet harbour sing"));
        assert!(!StoredPassword::verify_against_nothing(
            "velvet harbour sings"
        ));
        let started = std::time::Instant::now();
        stored.verify("velvet harbour sings");
        println!("one argon2id verification took {:?}", started.elapsed());
    }
}
