//! The sans-IO parts of LDAP and Active Directory sign-in: the `[[ldap]]` settings and their
//! checks, the search filter a typed name becomes, who an entry is (its stable subject), and
//! which organisation role its groups give.

use std::{collections::BTreeMap, net::IpAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

use crate::{config::ConfigError, org_roles::OrgRole};

/// The placeholder in `user_filter` that the typed name, escaped, replaces.
pub const USERNAME_PLACEHOLDER: &str = "{username}";
/// Longest name accepted, in bytes: directory names are short; anything longer is not one.
const MAX_USERNAME_BYTES: usize = 256;

/// One directory, an `[[ldap]]` table of the configuration.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LdapDirectorySettings {
    /// Slug used in URLs (`/api/auth/ldap/{name}`) and in the audit log.
    pub name: String,
    /// What the sign-in form calls this directory.
    pub label: String,
    /// `ldaps://host[:port]`, or `ldap://host[:port]` with `starttls = true`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before anything is sent.
    #[serde(default)]
    pub starttls: bool,
    /// Accept plain `ldap://` without StartTLS to a loopback host (a directory on this machine);
    /// passwords never cross a network in the clear.
    #[serde(default)]
    pub allow_plain_on_loopback: bool,
    /// PEM certificates to trust for the directory's TLS; none: the web PKI's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The service account that searches for users.
    pub bind_dn: String,
    /// Its password, or `bind_password_file` (one of the two).
    #[serde(default)]
    pub bind_password: Option<String>,
    /// A file holding its password (a trailing newline is dropped).
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched for (the whole subtree).
    pub user_base: String,
    /// The search filter; `{username}` is replaced by the typed name, escaped (RFC 4515).
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// The attribute a new account's name is made from (else the typed name).
    #[serde(default = "default_username_attribute")]
    pub username_attribute: String,
    /// The attribute listing the DNs of the user's groups.
    #[serde(default = "default_group_attribute")]
    pub group_attribute: String,
    /// Group DNs to organisation roles (compared without case); the most powerful match
    /// wins, no match is `member`.
    #[serde(default)]
    pub roles: BTreeMap<String, OrgRole>,
    /// Seconds allowed to connect, and to each operation.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

// The bind password stays out of logs and panics.
impl std::fmt::Debug for LdapDirectorySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapDirectorySettings")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("user_base", &self.user_base)
            .finish_non_exhaustive()
    }
}

fn default_user_filter() -> String {
    "(uid={username})".into()
}

fn default_username_attribute() -> String {
    "uid".into()
}

fn default_group_attribute() -> String {
    "memberOf".into()
}

fn default_timeout_secs() -> u64 {
    5
}

impl LdapDirectorySettings {
    /// How long connecting, and each operation, may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// Checks the directories; the error names the directory.
pub fn validate_directories(directories: &[LdapDirectorySettings]) -> Result<(), ConfigError> {
    for (i, directory) in directories.iter().enumerate() {
        let name = &directory.name;
        if !is_slug(name) {
            return Err(ConfigError::Invalid(format!(
                "ldap name {name:?}: 1-32 of a-z, 0-9 and '-'"
            )));
        }
        if directories[..i].iter().any(|other| other.name == *name) {
            return Err(ConfigError::Invalid(format!(
                "ldap name {name:?} is used twice"
            )));
        }
        check_directory(directory)
            .map_err(|reason| ConfigError::Invalid(format!("ldap {name}: {reason}")))?;
    }
    Ok(())
}

fn is_slug(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_directory(d: &LdapDirectorySettings) -> Result<(), String> {
    check_url(&d.url, d.starttls, d.allow_plain_on_loopback)
        .map_err(|reason| format!("url {:?} {reason}", d.url))?;
    let required = [
        ("label", &d.label),
        ("bind_dn", &d.bind_dn),
        ("user_base", &d.user_base),
        ("username_attribute", &d.username_attribute),
        ("group_attribute", &d.group_attribute),
    ];
    if let Some((key, _)) = required.iter().find(|(_, value)| value.trim().is_empty()) {
        return Err(format!("{key} must not be empty"));
    }
    if d.bind_password.is_some() == d.bind_password_file.is_some() {
        return Err("give one of bind_password and bind_password_file".into());
    }
    if !d.user_filter.contains(USERNAME_PLACEHOLDER)
        || !d.user_filter.starts_with('(')
        || !d.user_filter.ends_with(')')
    {
        return Err(format!(
            "user_filter {:?} must be a parenthesised filter containing {USERNAME_PLACEHOLDER}",
            d.user_filter
        ));
    }
    if !(1..=60).contains(&d.timeout_secs) {
        return Err("timeout_secs must be 1-60".into());
    }
    Ok(())
}

/// A directory URL must keep passwords off the network in the clear: LDAPS, or LDAP upgraded
/// by StartTLS. Plain LDAP is allowed only to loopback, and only when the operator says so.
fn check_url(url: &str, starttls: bool, allow_plain_on_loopback: bool) -> Result<(), &'static str> {
    let parsed = openidconnect::url::Url::parse(url).map_err(|_| "is not a URL")?;
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() || parsed.host().is_none() {
        return Err("must be ldaps://host[:port] or ldap://host[:port], nothing more");
    }
    match (parsed.scheme(), starttls) {
        ("ldaps", false) | ("ldap", true) => Ok(()),
        ("ldaps", true) => Err("is LDAPS already: starttls applies to ldap:// only"),
        ("ldap", false) if !allow_plain_on_loopback => Err(
            "is plain LDAP: use ldaps://, or ldap:// with starttls = true (passwords would \
             cross the network in the clear)",
        ),
        ("ldap", false) if is_loopback_host(&parsed) => Ok(()),
        ("ldap", false) => {
            Err("is plain LDAP off loopback: allow_plain_on_loopback covers loopback only")
        }
        _ => Err("must be ldaps:// or ldap://"),
    }
}

fn is_loopback_host(url: &openidconnect::url::Url) -> bool {
    // `ldap` is not a special scheme for the URL parser: an IP address stays a "domain".
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// A typed name the directory may be asked about: not empty, not huge, no control characters
/// (a NUL could cut the filter short in a C directory server even though it is escaped).
pub fn check_username(username: &str) -> Result<(), &'static str> {
    if username.trim().is_empty() {
        return Err("username_empty");
    }
    if username.len() > MAX_USERNAME_BYTES || username.chars().any(char::is_control) {
        return Err("username_invalid");
    }
    Ok(())
}

/// The search filter for a typed name: `user_filter` with every `{username}` replaced by the
/// name escaped as RFC 4515 asks, so `*`, `(`, `)`, `\` and NUL are literal characters of a
/// value, never filter syntax (LDAP injection).
pub fn user_filter(template: &str, username: &str) -> String {
    template.replace(USERNAME_PLACEHOLDER, &ldap3::ldap_escape(username))
}

/// A DN in one spelling: lower case, no spaces around the RDN separators. Enough to compare a
/// configured group DN with the directory's (attribute types and the usual values are not
/// case-sensitive); not a full RFC 4514 canonical form.
pub fn normalise_dn(dn: &str) -> String {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        match c {
            ',' if !escaped => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
        escaped = c == '\\' && !escaped;
    }
    parts.push(current);
    parts
        .iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((kind, value)) => format!("{}={}", kind.trim(), value.trim()),
            None => rdn.trim().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

/// The most powerful role that `roles` gives any of `groups` (DNs compared normalised), or
/// `member`.
pub fn mapped_role(groups: &[String], roles: &BTreeMap<String, OrgRole>) -> OrgRole {
    let groups: Vec<String> = groups.iter().map(|g| normalise_dn(g)).collect();
    let granted: Vec<OrgRole> = roles
        .iter()
        .filter(|(dn, _)| groups.contains(&normalise_dn(dn)))
        .map(|(_, role)| *role)
        .collect();
    OrgRole::ALL
        .into_iter()
        .find(|role| granted.contains(role))
        .unwrap_or_default()
}

/// Who an entry is for good: its `entryUUID` (RFC 4530, OpenLDAP and most directories), else
/// Active Directory's `objectGUID` (hex), else its normalised DN. A UUID survives a rename or
/// a move, and a person deleted and made again with the same DN is not taken for the old one.
pub fn subject(entry_uuid: Option<&str>, object_guid: Option<&[u8]>, dn: &str) -> String {
    if let Some(uuid) = entry_uuid.filter(|u| !u.is_empty()) {
        return format!("entryUUID={}", uuid.to_lowercase());
    }
    if let Some(guid) = object_guid.filter(|g| g.len() == 16) {
        return format!("objectGUID={}", hex::encode(guid));
    }
    format!("dn={}", normalise_dn(dn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LdapDirectorySettings {
        LdapDirectorySettings {
            name: "corp".into(),
            label: "Corp directory".into(),
            url: "ldaps://ldap.corp.example".into(),
            starttls: false,
            allow_plain_on_loopback: false,
            ca_file: None,
            bind_dn: "cn=sealroom,dc=corp".into(),
            bind_password: Some("secret".into()),
            bind_password_file: None,
            user_base: "ou=people,dc=corp".into(),
            user_filter: default_user_filter(),
            username_attribute: default_username_attribute(),
            group_attribute: default_group_attribute(),
            roles: BTreeMap::new(),
            timeout_secs: 5,
        }
    }

    fn refused(adjust: impl FnOnce(&mut LdapDirectorySettings)) -> String {
        let mut s = settings();
        adjust(&mut s);
        validate_directories(&[s]).unwrap_err().to_string()
    }

    #[test]
    fn urls_are_tls_or_opted_in_loopback_plain() {
        assert!(check_url("ldaps://ldap.example", false, false).is_ok());
        assert!(check_url("ldap://ldap.example:389", true, false).is_ok());
        assert!(check_url("ldap://ldap.example", false, false).is_err());
        assert!(check_url("ldap://ldap.example", false, true).is_err());
        assert!(check_url("ldap://127.0.0.1:3890", false, true).is_ok());
        assert!(check_url("ldap://[::1]:3890", false, true).is_ok());
        assert!(check_url("ldap://localhost", false, true).is_ok());
        assert!(check_url("ldaps://ldap.example", true, false).is_err());
        assert!(check_url("http://ldap.example", false, false).is_err());
        assert!(check_url("ldaps://ldap.example/dc=x?uid", false, false).is_err());
    }

    #[test]
    fn settings_are_checked_with_the_directory_named() {
        assert!(validate_directories(&[settings()]).is_ok());
        assert!(refused(|s| s.name = "Corp".into()).contains("1-32"));
        assert!(validate_directories(&[settings(), settings()]).is_err());
        assert!(refused(|s| s.bind_password = None).contains("bind_password"));
        assert!(refused(|s| s.bind_password_file = Some("/x".into())).contains("one of"));
        assert!(refused(|s| s.user_filter = "(uid=alice)".into()).contains("ldap corp:"));
        assert!(refused(|s| s.user_base = " ".into()).contains("user_base"));
        assert!(refused(|s| s.timeout_secs = 0).contains("timeout_secs"));
    }

    #[test]
    fn the_bind_password_is_not_in_debug_output() {
        assert!(!format!("{:?}", settings()).contains("secret"));
    }

    #[test]
    fn typed_names_are_escaped_into_the_filter() {
        assert_eq!(user_filter("(uid={username})", "alice"), "(uid=alice)");
        assert_eq!(user_filter("(uid={username})", "*"), "(uid=\\2a)");
        assert_eq!(
            user_filter("(uid={username})", "alice)(uid=*"),
            "(uid=alice\\29\\28uid=\\2a)"
        );
        assert_eq!(
            user_filter("(|(uid={username})(mail={username}))", "a\\b"),
            "(|(uid=a\\5cb)(mail=a\\5cb))"
        );
    }

    #[test]
    fn names_with_control_characters_or_nothing_are_refused() {
        assert!(check_username("alice").is_ok());
        assert_eq!(check_username(""), Err("username_empty"));
        assert_eq!(check_username("alice\0"), Err("username_invalid"));
        assert_eq!(check_username(&"a".repeat(257)), Err("username_invalid"));
    }

    #[test]
    fn group_dns_map_to_roles_without_case_or_spaces() {
        let roles = BTreeMap::from([
            ("cn=Admins,ou=groups,dc=corp".to_owned(), OrgRole::Admin),
            ("cn=audit,ou=groups,dc=corp".to_owned(), OrgRole::Auditor),
        ]);
        let groups = vec![
            "CN=audit, OU=Groups, DC=corp".to_owned(),
            "cn=admins,ou=groups,dc=corp".to_owned(),
        ];
        assert_eq!(mapped_role(&groups, &roles), OrgRole::Admin);
        assert_eq!(mapped_role(&groups[..1], &roles), OrgRole::Auditor);
        assert_eq!(mapped_role(&[], &roles), OrgRole::Member);
        // An escaped comma is part of a value, not a separator.
        assert_eq!(normalise_dn("cn=a\\, b , dc=X"), "cn=a\\, b,dc=x");
    }

    #[test]
    fn the_subject_prefers_a_uuid() {
        let dn = "uid=Alice,ou=people,dc=corp";
        assert_eq!(subject(Some("AB-1"), None, dn), "entryUUID=ab-1");
        assert_eq!(
            subject(None, Some(&[1; 16]), dn),
            format!("objectGUID={}", "01".repeat(16))
        );
        assert_eq!(subject(None, None, dn), "dn=uid=alice,ou=people,dc=corp");
    }
}
