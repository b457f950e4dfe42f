//! The server's configuration: one typed struct, read from an optional TOML file, overridden by
//! flags and `SEALROOM_*` environment variables, validated before anything starts.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::{media::IceTcpLimits, rate_limit::RateLimit};

/// Everything `sealroom serve` needs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP address (API, WebSocket signalling at `/ws`, metrics).
    pub listen: SocketAddr,
    /// The origin browsers load the web client from (`https://meet.example`): browser pages
    /// from it (and from `access.allowed_origins`) may open the signalling WebSocket, no
    /// others. Needed to serve the web client off loopback or behind a proxy; on loopback it
    /// defaults to the address listened on.
    pub public_origin: Option<String>,
    /// Serve plain HTTP on an address other than loopback without a trusted proxy in front:
    /// passwords, session cookies and signalling then cross the network in the clear.
    pub insecure_http: bool,
    /// Directory holding the server's keys, files and recordings, and the SQLite database
    /// unless `database_url` names another.
    pub data_dir: PathBuf,
    /// The PostgreSQL database to keep accounts, rooms and the audit log in, in place of
    /// SQLite in `data_dir`.
    pub database_url: Option<PostgresUrl>,
    /// Directory of the built browser client (`web/dist`), served at `/`; `None` serves the one
    /// embedded in the binary (built with `embed-web`), or none.
    pub web_dir: Option<PathBuf>,
    /// Media (SFU) settings.
    pub media: MediaSettings,
    /// Who may enter rooms, and how often one may try.
    pub access: AccessSettings,
    /// HTTPS for the web client and signalling.
    pub tls: TlsSettings,
    /// TURN relays (coturn) handed to clients.
    pub turn: TurnSettings,
    /// Organisation accounts: signing in, and what guests (not signed in) may do.
    pub accounts: AccountSettings,
    /// Who may read `/metrics`.
    pub metrics: MetricsSettings,
    /// The store of rooms' encrypted files.
    pub files: FilesSettings,
    /// The store of end-to-end encrypted meeting recordings.
    pub recording: RecordingSettings,
    /// OpenID Connect identity providers (`[[oidc]]` tables), each a "Sign in with …" button
    /// (`docs/sign-in.md`).
    pub oidc: Vec<crate::oidc::OidcProviderSettings>,
    /// LDAP and Active Directory directories (`[[ldap]]` tables) to sign in with
    /// (`docs/sign-in.md`).
    pub ldap: Vec<crate::ldap::LdapDirectorySettings>,
    /// How long the audit log keeps records and full client addresses.
    pub audit: AuditSettings,
}

/// A PostgreSQL connection URL, `postgres://user@host:port/database` (or `postgresql://`),
/// as sqlx reads it: what it leaves out (a password, say) is taken from the `PG*` environment
/// variables and `~/.pgpass`, as libpq does.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub struct PostgresUrl(String);

impl PostgresUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PostgresUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self(url))
        } else {
            Err(
                "database_url must be a postgres:// or postgresql:// URL (without it, the \
                 database is SQLite in data_dir)"
                    .into(),
            )
        }
    }
}

/// The audit log is a hash chain (docs/audit-log.md); retention removes its oldest records
/// and truncates old client addresses without breaking it. Applied at start, then daily.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Records older than this many days are removed (the removal is itself recorded).
    /// None: kept for ever.
    pub retention_days: Option<u32>,
    /// Client addresses in records older than this many days are cut to their /24 (IPv4)
    /// or /48 (IPv6). None: kept whole.
    pub truncate_addresses_after_days: Option<u32>,
}

/// Files members share in a room are encrypted by their clients: the server stores only
/// ciphertext, in `data_dir/blobs`, for the room's life at most. These bound the disk it takes.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FilesSettings {
    /// Largest file, in bytes of ciphertext.
    pub max_blob_bytes: u64,
    /// All of one room's files together (uploads under way count in full).
    pub room_quota_bytes: u64,
    /// All rooms' files together: the disk the store may take.
    pub server_quota_bytes: u64,
    /// Largest part of an upload sent in parts (browsers upload over HTTP/1.1 so, buffering
    /// each part).
    pub max_part_bytes: u64,
    /// Seconds a file is kept, unless its room ends first.
    pub lifetime_secs: u64,
}

const GIB: u64 = 1024 * 1024 * 1024;

impl Default for FilesSettings {
    fn default() -> Self {
        Self {
            max_blob_bytes: 2 * GIB,
            room_quota_bytes: 4 * GIB,
            server_quota_bytes: 16 * GIB,
            max_part_bytes: 8 * 1024 * 1024,
            lifetime_secs: 24 * 3600,
        }
    }
}

/// Meeting recordings are encrypted by the recorder's client to their owners' keys: the server
/// stores only ciphertext, in `data_dir/recordings`, past the meeting and restarts, until an
/// owner deletes it or `retention_days` are up (`docs/recording-store.md`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingSettings {
    /// Largest recording, in bytes of ciphertext: an upload stops there (413).
    pub max_bytes: u64,
    /// All recordings together: the disk the store may take.
    pub server_quota_bytes: u64,
    /// Largest part of an upload (the first, `POST`, carries at least the whole header: at
    /// least 4096).
    pub max_part_bytes: u64,
    /// Days a recording is kept after it started; then it is deleted, whoever owns it.
    pub retention_days: u64,
    /// Seconds an owner's proof holds: a nonce opened from a challenge may be presented (for
    /// any number of requests) this long after the challenge was issued; at most 3600.
    pub owner_proof_secs: u64,
}

/// The first part of a recording holds its whole header (at most 1845 bytes).
pub const MIN_RECORDING_PART_BYTES: u64 = 4096;

impl Default for RecordingSettings {
    fn default() -> Self {
        Self {
            max_bytes: 8 * GIB,
            server_quota_bytes: 64 * GIB,
            max_part_bytes: 8 * 1024 * 1024,
            retention_days: 30,
            owner_proof_secs: 600,
        }
    }
}

/// `/metrics` tells who meets when (room and participant counts, packet rates, audit counts),
/// so only the operator's scraper reads it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// The bearer token a scrape presents (Prometheus: `authorization: { credentials: … }`);
    /// at least 16 characters. None: `/metrics` is not served.
    pub token: Option<String>,
}

/// Accounts (made with `sealroom account add`) sign in at `POST /api/session`; whoever joins
/// without signing in is a guest.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// Whether a guest's join may create a room (and moderate it). Off: a guest who comes to a
    /// room first waits until someone signed in arrives, who moderates it; moderation passes
    /// only to signed-in participants.
    pub guests_create_rooms: bool,
    /// Minimum length of an account password, in characters (at least 8; NIST SP 800-63B-4
    /// asks 15 for a password used alone).
    pub password_min_chars: usize,
    /// Hours a sign-in lasts.
    pub session_hours: u64,
    /// Sign-in attempts per client address.
    pub sign_in_per_address: RateLimit,
    /// Sign-in attempts per account name (from any address): bounds guessing one account's
    /// password from many addresses.
    pub sign_in_per_account: RateLimit,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            guests_create_rooms: true,
            password_min_chars: 15,
            session_hours: 12,
            sign_in_per_address: RateLimit {
                burst: 10,
                per_minute: 10,
            },
            sign_in_per_account: RateLimit {
                burst: 5,
                per_minute: 5,
            },
        }
    }
}

/// TURN relays for clients whose direct path to the SFU fails, with TURN REST API credentials
/// (coturn's `use-auth-secret`): the server and coturn share a secret, and each participant
/// gets a username and password that expire. `deploy/coturn/turnserver.conf` is a matching
/// coturn configuration that refuses to relay to loopback and private addresses.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TurnSettings {
    /// `turn:host:3478`, `turns:host:5349?transport=tcp`...; none: no TURN.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret` (at least 16 characters).
    pub shared_secret: Option<String>,
    /// How long a credential may start new relay allocations [default: 10 min]. Each
    /// participant gets one when it is let into a meeting; an allocation made with it runs on
    /// after it expires.
    pub credential_ttl_secs: Option<u64>,
}

/// Where the server's certificate comes from; without any, it serves plain HTTP (for use behind
/// a TLS-terminating reverse proxy, or on loopback).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert_file: Option<PathBuf>,
    /// PEM private key for it.
    pub key_file: Option<PathBuf>,
    /// Make a self-signed certificate for local use (kept in `data_dir/tls/` so browsers and
    /// clients that accepted it once keep working across restarts).
    pub self_signed: bool,
}

impl TlsSettings {
    /// Whether the server speaks HTTPS.
    pub fn enabled(&self) -> bool {
        self.self_signed || self.cert_file.is_some()
    }
}

/// Admission to rooms: the room-password policy and the join rate limits.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccessSettings {
    /// Minimum length of a room password, in characters (at least 8).
    pub password_min_chars: usize,
    /// Join attempts per client address.
    pub join_per_address: RateLimit,
    /// Join attempts per room (whoever makes them): bounds password guessing against one room
    /// from many addresses.
    pub join_per_room: RateLimit,
    /// Reverse proxies (exact addresses) whose `X-Forwarded-For` names the client: behind one,
    /// the per-address limit applies to the client's address, not the proxy's. From any other
    /// peer the header is ignored, so a client cannot pick its own address.
    pub trusted_proxies: Vec<IpAddr>,
    /// Room-password (argon2id) checks run at once, server-wide; more wait their turn. Bounds
    /// the CPU and memory (19 MiB each) that password guessing from many addresses can take.
    pub password_checks_at_once: usize,
    /// Origins (e.g. `https://meet.example`) besides the server's own whose pages may open the
    /// signalling WebSocket; a browser page from anywhere else is refused.
    pub allowed_origins: Vec<String>,
    /// Signalling connections open at once from one client address.
    pub connections_per_address: usize,
    /// Signalling messages per connection: beyond it messages are refused (`rate_limited`),
    /// and a connection that keeps flooding is closed.
    pub messages_per_connection: RateLimit,
    /// Seconds a participant whose connection dropped may take to resume its session from a
    /// new connection (same participant, same MLS leaf) before it is removed.
    pub resume_window_secs: u64,
    /// Seconds a signalling connection may stay silent (the server pings it every third of
    /// this; a live browser or native client answers) before it is closed as dead.
    pub idle_timeout_secs: u64,
}

impl Default for AccessSettings {
    fn default() -> Self {
        Self {
            password_min_chars: 8,
            join_per_address: RateLimit {
                burst: 10,
                per_minute: 20,
            },
            join_per_room: RateLimit {
                burst: 30,
                per_minute: 60,
            },
            trusted_proxies: Vec::new(),
            password_checks_at_once: 2,
            allowed_origins: Vec::new(),
            connections_per_address: 20,
            messages_per_connection: RateLimit {
                burst: 200,
                per_minute: 6000,
            },
            idle_timeout_secs: 45,
            resume_window_secs: 30,
        }
    }
}

/// Where the SFU listens and what it tells clients.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSettings {
    /// UDP address all participants' media is multiplexed on.
    pub udp_listen: SocketAddr,
    /// Address advertised to clients as the ICE candidate, when it differs from the listen
    /// address (behind NAT, or listening on 0.0.0.0).
    pub public_ip: Option<IpAddr>,
    /// Optional TCP address for ICE-TCP, for clients whose UDP is blocked.
    pub tcp_listen: Option<SocketAddr>,
    /// ICE-TCP connections open at once from one client address (many clients may share one
    /// behind a NAT).
    pub tcp_connections_per_address: usize,
    /// Seconds an ICE-TCP connection may take to bring an ICE check with a participant's
    /// credentials before it is closed.
    pub tcp_handshake_timeout_secs: u64,
    /// Seconds an ICE-TCP connection may stay silent before it is closed (a live client sends
    /// ICE consent checks every few seconds).
    pub tcp_idle_timeout_secs: u64,
    /// Payload bits per second one participant may publish, all tracks together; beyond it
    /// the SFU drops its packets before forwarding them.
    pub max_publish_bps: u64,
    /// Media threads; each has its own SFU and ports (`udp_listen`'s port, the next, …,
    /// likewise for `tcp_listen`) and carries whole rooms. 0: one per CPU.
    pub threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_origin: None,
            insecure_http: false,
            data_dir: PathBuf::from("sealroom-data"),
            database_url: None,
            web_dir: None,
            media: MediaSettings::default(),
            access: AccessSettings::default(),
            tls: TlsSettings::default(),
            turn: TurnSettings::default(),
            accounts: AccountSettings::default(),
            metrics: MetricsSettings::default(),
            files: FilesSettings::default(),
            recording: RecordingSettings::default(),
            oidc: Vec::new(),
            ldap: Vec::new(),
            audit: AuditSettings::default(),
        }
    }
}

impl MediaSettings {
    /// The ICE-TCP limits these settings give.
    pub fn ice_tcp_limits(&self) -> IceTcpLimits {
        IceTcpLimits {
            connections_per_address: self.tcp_connections_per_address,
            handshake_timeout: Duration::from_secs(self.tcp_handshake_timeout_secs),
            idle_timeout: Duration::from_secs(self.tcp_idle_timeout_secs),
        }
    }
}

impl Default for MediaSettings {
    fn default() -> Self {
        let tcp = IceTcpLimits::default();
        Self {
            udp_listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_ip: None,
            tcp_listen: None,
            tcp_connections_per_address: tcp.connections_per_address,
            tcp_handshake_timeout_secs: tcp.handshake_timeout.as_secs(),
            tcp_idle_timeout_secs: tcp.idle_timeout.as_secs(),
            max_publish_bps: sealroom_sfu::DEFAULT_MAX_PUBLISH_BPS,
            threads: 0,
        }
    }
}

/// A configuration that cannot work, said in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this struct.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        source: toml::de::Error,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file; missing keys take their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_http_exposure()?;
        self.validate_places()?;
        self.validate_limits()?;
        self.validate_files()?;
        self.validate_recording()?;
        crate::oidc::validate_providers(&self.oidc)?;
        crate::ldap::validate_directories(&self.ldap)?;
        self.validate_tls_and_secrets()
    }

    /// The addresses and directories.
    fn validate_places(&self) -> Result<(), ConfigError> {
        if self.media.udp_listen.ip().is_unspecified() && self.media.public_ip.is_none() {
            return Err(ConfigError::Invalid(
                "media.udp_listen is a wildcard address: set media.public_ip (--media-public-ip) \
                 to the address clients should send media to"
                    .into(),
            ));
        }
        if let Some(web_dir) = &self.web_dir
            && !web_dir.join("index.html").is_file()
        {
            return Err(ConfigError::Invalid(format!(
                "web_dir {} has no index.html: build the web client with scripts/build-web",
                web_dir.display()
            )));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid("data_dir must not be empty".into()));
        }
        Ok(())
    }

    /// Password policies, session lengths, rate limits, caps and timeouts.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        for (key, min_chars) in [
            ("access.password_min_chars", self.access.password_min_chars),
            (
                "accounts.password_min_chars",
                self.accounts.password_min_chars,
            ),
        ] {
            if !(8..=64).contains(&min_chars) {
                return Err(ConfigError::Invalid(format!(
                    "{key} must be between 8 and 64"
                )));
            }
        }
        if self.accounts.session_hours == 0 {
            return Err(ConfigError::Invalid(
                "accounts.session_hours must be at least 1".into(),
            ));
        }
        for (key, limit) in [
            (
                "accounts.sign_in_per_address",
                self.accounts.sign_in_per_address,
            ),
            (
                "accounts.sign_in_per_account",
                self.accounts.sign_in_per_account,
            ),
            ("access.join_per_address", self.access.join_per_address),
            ("access.join_per_room", self.access.join_per_room),
            (
                "access.messages_per_connection",
                self.access.messages_per_connection,
            ),
        ] {
            if limit.burst == 0 || limit.per_minute == 0 {
                return Err(ConfigError::Invalid(format!(
                    "{key}: burst and per_minute must be at least 1"
                )));
            }
        }
        for (key, value) in [
            (
                "access.password_checks_at_once",
                self.access.password_checks_at_once,
            ),
            (
                "access.connections_per_address",
                self.access.connections_per_address,
            ),
            (
                "access.idle_timeout_secs",
                self.access.idle_timeout_secs as usize,
            ),
            (
                "media.tcp_connections_per_address",
                self.media.tcp_connections_per_address,
            ),
            (
                "media.tcp_handshake_timeout_secs",
                self.media.tcp_handshake_timeout_secs as usize,
            ),
            (
                "media.tcp_idle_timeout_secs",
                self.media.tcp_idle_timeout_secs as usize,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{key} must be at least 1")));
            }
        }
        Ok(())
    }

    /// The file store's limits: each at least 1, and a file must fit in a room, a room's files
    /// in the server's.
    fn validate_files(&self) -> Result<(), ConfigError> {
        let files = &self.files;
        for (key, value) in [
            ("files.max_blob_bytes", files.max_blob_bytes),
            ("files.room_quota_bytes", files.room_quota_bytes),
            ("files.server_quota_bytes", files.server_quota_bytes),
            ("files.max_part_bytes", files.max_part_bytes),
            ("files.lifetime_secs", files.lifetime_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{key} must be at least 1")));
            }
        }
        if files.max_blob_bytes > files.room_quota_bytes
            || files.room_quota_bytes > files.server_quota_bytes
        {
            return Err(ConfigError::Invalid(
                "files: max_blob_bytes must be at most room_quota_bytes, and room_quota_bytes \
                 at most server_quota_bytes"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The recording store's limits: each at least 1, a recording within the server's quota,
    /// a part large enough for a whole header.
    fn validate_recording(&self) -> Result<(), ConfigError> {
        let recording = &self.recording;
        for (key, value) in [
            ("recording.max_bytes", recording.max_bytes),
            ("recording.server_quota_bytes", recording.server_quota_bytes),
            ("recording.max_part_bytes", recording.max_part_bytes),
            ("recording.retention_days", recording.retention_days),
            ("recording.owner_proof_secs", recording.owner_proof_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{key} must be at least 1")));
            }
        }
        if recording.max_bytes > recording.server_quota_bytes {
            return Err(ConfigError::Invalid(
                "recording: max_bytes must be at most server_quota_bytes".into(),
            ));
        }
        if recording.max_part_bytes < MIN_RECORDING_PART_BYTES {
            return Err(ConfigError::Invalid(format!(
                "recording.max_part_bytes must be at least {MIN_RECORDING_PART_BYTES}, to hold \
                 a recording's header"
            )));
        }
        if recording.retention_days > 36_500 || recording.owner_proof_secs > 3600 {
            return Err(ConfigError::Invalid(
                "recording: retention_days must be at most 36500, owner_proof_secs at most 3600"
                    .into(),
            ));
        }
        Ok(())
    }

    /// TLS files, TURN's shared secret and the metrics token.
    fn validate_tls_and_secrets(&self) -> Result<(), ConfigError> {
        match (
            &self.tls.cert_file,
            &self.tls.key_file,
            self.tls.self_signed,
        ) {
            (Some(_), Some(_), false) | (None, None, _) => {}
            (Some(_), Some(_), true) => {
                return Err(ConfigError::Invalid(
                    "tls: give cert_file and key_file, or self_signed, not both".into(),
                ));
            }
            _ => {
                return Err(ConfigError::Invalid(
                    "tls: cert_file and key_file go together".into(),
                ));
            }
        }
        match (&self.turn.shared_secret, self.turn.urls.is_empty()) {
            (Some(secret), false) if secret.chars().count() >= 16 => {}
            (None, true) => {}
            _ => {
                return Err(ConfigError::Invalid(
                    "turn: give urls and a shared_secret of at least 16 characters together".into(),
                ));
            }
        }
        if let Some(token) = &self.metrics.token
            && token.chars().count() < 16
        {
            return Err(ConfigError::Invalid(
                "metrics.token must be at least 16 characters".into(),
            ));
        }
        Ok(())
    }

    /// Whether browsers load a web client from this server: a directory's or the embedded one.
    pub fn serves_web_client(&self) -> bool {
        self.web_dir.is_some() || crate::web_bundle::EMBEDDED
    }

    /// Off loopback: HTTPS, a trusted TLS-terminating proxy, or the operator's word that the
    /// network is trusted; and a public origin wherever browsers cannot reach the web client
    /// at the address listened on.
    fn validate_http_exposure(&self) -> Result<(), ConfigError> {
        let on_loopback = self.listen.ip().is_loopback();
        let behind_proxy = !self.access.trusted_proxies.is_empty();
        if !on_loopback && !self.tls.enabled() && !behind_proxy && !self.insecure_http {
            return Err(ConfigError::Invalid(format!(
                "listen {} is not a loopback address, and without TLS passwords, session \
                 cookies and signalling would cross the network in plain HTTP: serve HTTPS \
                 (--tls-cert and --tls-key, or --tls-self-signed), or put a TLS-terminating \
                 proxy in front and list it in access.trusted_proxies, or, on a network you \
                 trust, pass --insecure-http (insecure_http = true)",
                self.listen
            )));
        }
        match &self.public_origin {
            Some(origin) if !is_origin(origin) => Err(ConfigError::Invalid(format!(
                "public_origin {origin:?} must be http(s)://host[:port], without a path"
            ))),
            None if self.serves_web_client() && (!on_loopback || behind_proxy) => {
                Err(ConfigError::Invalid(
                    "set public_origin (--public-origin) to the origin browsers load the web \
                     client from, e.g. https://meet.example: off loopback or behind a proxy \
                     the server cannot tell it, and the signalling WebSocket admits pages from \
                     it only"
                        .into(),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Whether `value` is an origin as browsers send it: a scheme, a host and perhaps a port.
fn is_origin(value: &str) -> bool {
    let authority = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    authority.is_some_and(|a| {
        !a.is_empty() && !a.contains(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_defaults_and_rejects_unknown_keys() {
        let config: Config = toml::from_str(
            "listen = \"127.0.0.1:9000\"\n[media]\nudp_listen = \"127.0.0.1:9001\"\n",
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.media.udp_listen.port(), 9001);
        assert_eq!(config.data_dir, PathBuf::from("sealroom-data"));
        assert!(toml::from_str::<Config>("lisen = \"127.0.0.1:1\"").is_err());
    }

    #[test]
    fn database_url_names_postgresql_or_is_refused() {
        assert_eq!(Config::default().database_url, None, "SQLite by default");
        for url in [
            "postgres://sealroom@db:5432/sealroom",
            "postgresql:///sealroom",
        ] {
            let config: Config = toml::from_str(&format!("database_url = {url:?}")).unwrap();
            assert_eq!(config.database_url.unwrap().as_str(), url);
        }
        for url in ["sqlite://sealroom.db", "mysql://db/sealroom", "db.example"] {
            let error = toml::from_str::<Config>(&format!("database_url = {url:?}"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("postgres://"), "{url}: {error}");
        }
    }

    #[test]
    fn access_limits_read_from_toml_and_are_validated() {
        let config: Config = toml::from_str(
            "[access]\npassword_min_chars = 12\njoin_per_room = { burst = 5, per_minute = 10 }\n",
        )
        .unwrap();
        assert_eq!(config.access.password_min_chars, 12);
        assert_eq!(config.access.join_per_room.burst, 5);
        assert_eq!(
            config.access.join_per_address,
            AccessSettings::default().join_per_address
        );
        assert!(config.validate().is_ok());
        let mut weak = Config::default();
        weak.access.password_min_chars = 4;
        assert!(weak.validate().is_err());
        let mut closed = Config::default();
        closed.access.join_per_address.per_minute = 0;
        assert!(closed.validate().is_err());
        let mut stalled = Config::default();
        stalled.access.password_checks_at_once = 0;
        assert!(stalled.validate().is_err());
        let behind_proxy: Config =
            toml::from_str("[access]\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n").unwrap();
        assert_eq!(behind_proxy.access.trusted_proxies.len(), 2);
    }

    #[test]
    fn plain_http_off_loopback_needs_tls_a_trusted_proxy_or_the_operators_word() {
        let exposed = Config {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Config::default()
        };
        let refused = exposed.validate().unwrap_err().to_string();
        assert!(refused.contains("plain HTTP"), "{refused}");
        assert!(
            refused.contains("--insecure-http"),
            "says the way out: {refused}"
        );
        for allowed in [
            Config {
                insecure_http: true,
                ..exposed.clone()
            },
            Config {
                tls: TlsSettings {
                    self_signed: true,
                    ..TlsSettings::default()
                },
                ..exposed.clone()
            },
            Config {
                access: AccessSettings {
                    trusted_proxies: vec!["10.0.0.2".parse().unwrap()],
                    ..AccessSettings::default()
                },
                ..exposed.clone()
            },
        ] {
            assert!(allowed.validate().is_ok(), "{allowed:?}");
        }
        let from_toml: Config =
            toml::from_str("listen = \"192.0.2.7:80\"\ninsecure_http = true\n").unwrap();
        assert!(from_toml.validate().is_ok());
    }

    #[test]
    fn the_public_origin_is_an_origin_and_needed_where_it_cannot_be_told() {
        let mut config = Config {
            public_origin: Some("https://meet.example/".into()),
            ..Config::default()
        };
        assert!(config.validate().is_err(), "a path is not an origin");
        config.public_origin = Some("https://meet.example:8443".into());
        assert!(config.validate().is_ok());

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "").unwrap();
        let mut proxied = Config {
            web_dir: Some(dir.path().to_owned()),
            ..Config::default()
        };
        assert!(proxied.validate().is_ok(), "on loopback: its own address");
        proxied.access.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        assert!(
            proxied.validate().is_err(),
            "behind a proxy: pages come from elsewhere"
        );
        proxied.public_origin = Some("https://meet.example".into());
        assert!(proxied.validate().is_ok());
    }

    #[test]
    fn a_metrics_token_is_long() {
        let mut config = Config::default();
        config.metrics.token = Some("short".into());
        assert!(config.validate().is_err());
        config.metrics.token = Some("a-token-of-twenty-chars".into());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn ice_tcp_limits_read_from_toml_and_are_validated() {
        let config: Config = toml::from_str(
            "[media]\ntcp_connections_per_address = 4\ntcp_idle_timeout_secs = 60\n",
        )
        .unwrap();
        assert_eq!(
            config.media.ice_tcp_limits(),
            IceTcpLimits {
                connections_per_address: 4,
                idle_timeout: Duration::from_secs(60),
                ..IceTcpLimits::default()
            }
        );
        let mut no_time_to_connect = Config::default();
        no_time_to_connect.media.tcp_handshake_timeout_secs = 0;
        assert!(no_time_to_connect.validate().is_err());
    }

    #[test]
    fn file_limits_read_from_toml_and_are_validated() {
        let config: Config =
            toml::from_str("[files]\nmax_blob_bytes = 1000\nlifetime_secs = 60\n").unwrap();
        assert_eq!(config.files.max_blob_bytes, 1000);
        assert_eq!(
            config.files.room_quota_bytes,
            FilesSettings::default().room_quota_bytes
        );
        assert!(config.validate().is_ok());
        let mut kept_for_no_time = Config::default();
        kept_for_no_time.files.lifetime_secs = 0;
        assert!(kept_for_no_time.validate().is_err());
        let mut file_over_room = Config::default();
        file_over_room.files.max_blob_bytes = file_over_room.files.room_quota_bytes + 1;
        let refused = file_over_room.validate().unwrap_err().to_string();
        assert!(refused.contains("room_quota_bytes"), "{refused}");
    }

    #[test]
    fn recording_limits_read_from_toml_and_are_validated() {
        let config: Config =
            toml::from_str("[recording]\nmax_bytes = 5000\nretention_days = 7\n").unwrap();
        assert_eq!(config.recording.max_bytes, 5000);
        assert_eq!(config.recording.retention_days, 7);
        assert_eq!(
            config.recording.server_quota_bytes,
            RecordingSettings::default().server_quota_bytes
        );
        assert!(config.validate().is_ok());
        assert!(toml::from_str::<Config>("[recording]\nmax_size = 1\n").is_err());
        let mut kept_for_no_time = Config::default();
        kept_for_no_time.recording.retention_days = 0;
        assert!(kept_for_no_time.validate().is_err());
        let mut over_quota = Config::default();
        over_quota.recording.max_bytes = over_quota.recording.server_quota_bytes + 1;
        let refused = over_quota.validate().unwrap_err().to_string();
        assert!(refused.contains("server_quota_bytes"), "{refused}");
        let mut tiny_parts = Config::default();
        tiny_parts.recording.max_part_bytes = 100;
        assert!(tiny_parts.validate().is_err());
        let mut long_proofs = Config::default();
        long_proofs.recording.owner_proof_secs = 3601;
        assert!(long_proofs.validate().is_err());
    }

    #[test]
    fn audit_retention_reads_from_toml_and_defaults_to_keeping_everything() {
        assert_eq!(Config::default().audit, AuditSettings::default());
        assert_eq!(AuditSettings::default().retention_days, None);
        let config: Config =
            toml::from_str("[audit]\nretention_days = 365\ntruncate_addresses_after_days = 30\n")
                .unwrap();
        assert_eq!(config.audit.retention_days, Some(365));
        assert_eq!(config.audit.truncate_addresses_after_days, Some(30));
        assert!(config.validate().is_ok());
        assert!(toml::from_str::<Config>("[audit]\nretention = 1\n").is_err());
        assert!(toml::from_str::<Config>("[audit]\nretention_days = -1\n").is_err());
    }

    #[test]
    fn wildcard_media_address_needs_a_public_ip() {
        let mut config = Config::default();
        config.media.udp_listen = "0.0.0.0:8443".parse().unwrap();
        assert!(config.validate().is_err());
        config.media.public_ip = Some("192.0.2.7".parse().unwrap());
        assert!(config.validate().is_ok());
    }
}
