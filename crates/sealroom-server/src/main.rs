//! The `sealroom` binary: `sealroom serve` runs the server, `sealroom join` the native client,
//! `sealroom verify-web` checks the web client a server serves.

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sealroom_server::{
    audit_export::{self, AuditExport, AuditFormat},
    config::Config,
    org_roles::OrgRole,
    org_settings::OrgSettings,
    password::PasswordPolicy,
    persistent_rooms,
    room::KeptSettings,
    storage::{AuditExportFilter, Storage},
    web_bundle::{WebBundle, verify::Served},
};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "sealroom",
    version,
    about = "End-to-end encrypted video meetings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: HTTP API, WebSocket signalling at /ws, the SFU, and an embedded SQLite
    /// database in the data directory.
    Serve(ServeArgs),
    /// Join a room as a native client (for tests and bots).
    Join(sealroom_client::cli::JoinArgs),
    /// Generate load: many native participants in rooms, with join, rekey, forwarding and
    /// server CPU figures.
    Load(sealroom_client::cli::LoadArgs),
    /// Check that a server serves the web client this binary embeds (or one built into a
    /// directory): fetches every file, compares their SHA-256, names each that differs.
    VerifyWeb(VerifyWebArgs),
    /// Manage the organisation's accounts (in the server's data directory).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage the organisation's persistent rooms: kept between meetings with their settings
    /// and password (in the server's data directory).
    #[command(subcommand)]
    Room(RoomCommand),
    /// End-to-end encrypted recordings: make an owner key, show its public key, decrypt a
    /// recording (and encrypt a file as a recorder does).
    #[command(subcommand)]
    Recording(sealroom_client::cli::RecordingCommand),
    /// Record a meeting, end-to-end encrypted, on this machine: join with the room link as a
    /// member everyone sees, write the media received (VP8 and Opus, not re-encoded) into a
    /// WebM encrypted to the owners' keys, as DIR/<id>.srr.
    Record(sealroom_client::cli::RecordArgs),
    /// The audit log (in the server's data directory): verify its hash chain, or export it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Organisation settings (in the server's data directory), for scripts; the console and
    /// `/api/admin/…` change them too.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Show the MFA policy, or set it: off, everyone, local_accounts, admins (owners and
    /// admins), or role names such as owner,admin. An account it covers that has no second
    /// factor can only enrol one after signing in.
    MfaPolicy {
        /// The new policy; none: show it.
        policy: Option<sealroom_server::mfa::MfaPolicy>,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain: print how many records verified, or fail naming the first record
    /// that does not (edited, missing, out of order, inserted).
    Verify {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Write the records to standard output, oldest first, with their number and hash.
    Export(AuditExportArgs),
}

#[derive(Args)]
struct AuditExportArgs {
    /// jsonl: one JSON object a line; csv: a header line, then RFC 4180 quoted rows.
    #[arg(long, value_enum)]
    format: AuditFormat,
    /// Only records from this time on (RFC 3339, e.g. 2026-01-31T00:00:00Z).
    #[arg(long, value_parser = audit_export::rfc3339)]
    since: Option<String>,
    /// Only records before this time (RFC 3339).
    #[arg(long, value_parser = audit_export::rfc3339)]
    until: Option<String>,
    /// Only this room's records.
    #[arg(long)]
    room: Option<String>,
    /// Only records of this action, e.g. sign_in_refused.
    #[arg(long)]
    action: Option<String>,
    /// Only this participant's or account's records.
    #[arg(long)]
    participant: Option<String>,
    /// Only records whose detail contains this text.
    #[arg(long)]
    contains: Option<String>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args)]
struct VerifyWebArgs {
    /// The server to check: http(s)://host[:port].
    #[arg(long)]
    server: String,
    /// For an https:// server with its own certificate: trust only the certificates in this
    /// PEM file (as `sealroom join --ca-file`).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Compare with the web client built into this directory (e.g. web/dist, built from the
    /// server's sources) [default: the one embedded in this binary].
    #[arg(long = "web")]
    web_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum RoomCommand {
    /// Make a persistent room.
    Add(RoomAddArgs),
    /// Remove a persistent room (a meeting going on in it carries on as an ordinary room).
    Remove {
        /// Room name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the persistent rooms.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Args)]
struct RoomAddArgs {
    /// Room name: 1-64 of a-z 0-9 -.
    name: String,
    /// Joiners wait in the lobby until a moderator admits them.
    #[arg(long)]
    lobby: bool,
    /// Nobody joins before a moderator.
    #[arg(long)]
    wait_for_moderator: bool,
    /// Give the room a password, read from standard input (one line; at least the
    /// organisation's room_password_min_chars, not a common password).
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Where the data directory is, for the commands that manage it.
#[derive(Args)]
struct DataArgs {
    /// TOML config file (for the data directory, database_url and the password policies).
    #[arg(long, env = "SEALROOM_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: the config's, or ./sealroom-data].
    #[arg(long = "data", env = "SEALROOM_DATA")]
    data_dir: Option<PathBuf>,
}

impl DataArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(data_dir) = &self.data_dir {
            config.data_dir = data_dir.clone();
        }
        Ok(config)
    }

    /// The database the config names, or the data directory's.
    async fn storage(&self) -> anyhow::Result<Storage> {
        let config = self.config()?;
        Ok(Storage::open(&config.data_dir, config.database_url.as_ref()).await?)
    }
}

/// One line of standard input, without its line ending.
fn read_secret_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Make an account. The password is read from standard input (one line) and must meet the
    /// policy (accounts.password_min_chars, not a common password).
    Add(AccountAddArgs),
    /// Remove an account; its sessions end at once.
    Remove {
        /// Account name.
        username: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the accounts: name, role, and "totp" for those with a second factor.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Give an account another role in the organisation: owner, admin, auditor or member.
    SetRole {
        /// Account name.
        username: String,
        /// The new role.
        role: OrgRole,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Args)]
struct AccountAddArgs {
    /// Account name: 1-64 letters, digits, '.', '_', '-' or '@'.
    username: String,
    /// Give the account a second factor: prints an otpauth:// URI for an authenticator app;
    /// signing in then needs its current code.
    #[arg(long)]
    totp: bool,
    /// Its role in the organisation: owner, admin, auditor or member.
    #[arg(long, default_value_t = OrgRole::Member)]
    role: OrgRole,
    #[command(flatten)]
    data: DataArgs,
}

/// Flags and `SEALROOM_*` variables override the config file, which overrides the defaults.
#[derive(Args)]
struct ServeArgs {
    /// TOML config file; keys as in docs/ARCHITECTURE.md ("Configuration").
    #[arg(long, env = "SEALROOM_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP address for the API, the WebSocket at /ws, /healthz and /metrics
    /// [default: 127.0.0.1:8080].
    #[arg(long, env = "SEALROOM_LISTEN")]
    listen: Option<SocketAddr>,
    /// The origin browsers load the web client from, e.g. https://meet.example: pages from it
    /// (and from access.allowed_origins) may open the WebSocket, no others. Needed with --web
    /// off loopback or behind a proxy [default on loopback: the listen address].
    #[arg(long, env = "SEALROOM_PUBLIC_ORIGIN")]
    public_origin: Option<String>,
    /// Serve plain HTTP on an address other than loopback with no trusted proxy in front:
    /// passwords, session cookies and signalling then cross the network in the clear.
    #[arg(long, env = "SEALROOM_INSECURE_HTTP")]
    insecure_http: bool,
    /// Bearer token a scrape of /metrics presents, at least 16 characters [default: /metrics
    /// not served]. Prefer the variable or the config file: a flag shows in the process list.
    #[arg(long, env = "SEALROOM_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Data directory: the secrets key, files, recordings, and the SQLite database unless the
    /// config's database_url names PostgreSQL [default: ./sealroom-data].
    #[arg(long = "data", env = "SEALROOM_DATA")]
    data_dir: Option<PathBuf>,
    /// Directory of the built browser client to serve at / (e.g. web/dist) [default: the one
    /// embedded in the binary (scripts/run builds it so), else none].
    #[arg(long = "web", env = "SEALROOM_WEB")]
    web_dir: Option<PathBuf>,
    /// UDP address that all participants' media is multiplexed on [default: 127.0.0.1:8443].
    #[arg(long, env = "SEALROOM_MEDIA_UDP")]
    media_udp: Option<SocketAddr>,
    /// Public IP address announced to clients as the media candidate (needed when --media-udp
    /// listens on 0.0.0.0 or behind NAT).
    #[arg(long, env = "SEALROOM_MEDIA_PUBLIC_IP")]
    media_public_ip: Option<IpAddr>,
    /// TCP address for ICE-TCP, the fallback for clients whose UDP is blocked [default: off].
    #[arg(long, env = "SEALROOM_MEDIA_TCP")]
    media_tcp: Option<SocketAddr>,
    /// Media threads, each with its own ports counted up from --media-udp (and --media-tcp)
    /// and whole rooms on it [default: 0, one per CPU].
    #[arg(long, env = "SEALROOM_MEDIA_THREADS")]
    media_threads: Option<usize>,
    /// PEM certificate chain to serve HTTPS with (with --tls-key).
    #[arg(long, env = "SEALROOM_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SEALROOM_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate made for local use (kept in the data
    /// directory).
    #[arg(long, env = "SEALROOM_TLS_SELF_SIGNED", conflicts_with = "tls_cert")]
    tls_self_signed: bool,
    /// Log filter, e.g. "info" or "sealroom_server=debug,str0m=warn".
    #[arg(long, env = "SEALROOM_LOG", default_value = "info")]
    log: String,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(origin) = self.public_origin {
            config.public_origin = Some(origin);
        }
        config.insecure_http |= self.insecure_http;
        if let Some(token) = self.metrics_token {
            config.metrics.token = Some(token);
        }
        if let Some(data_dir) = self.data_dir {
            config.data_dir = data_dir;
        }
        if let Some(web_dir) = self.web_dir {
            config.web_dir = Some(web_dir);
        }
        if let Some(udp) = self.media_udp {
            config.media.udp_listen = udp;
        }
        if let Some(ip) = self.media_public_ip {
            config.media.public_ip = Some(ip);
        }
        if let Some(tcp) = self.media_tcp {
            config.media.tcp_listen = Some(tcp);
        }
        if let Some(threads) = self.media_threads {
            config.media.threads = threads;
        }
        if self.tls_cert.is_some() {
            config.tls.cert_file = self.tls_cert;
            config.tls.key_file = self.tls_key;
        }
        config.tls.self_signed |= self.tls_self_signed;
        config.validate()?;
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => {
            init_logging(&args.log)?;
            let config = args.into_config()?;
            let server = sealroom_server::start(config).await?;
            println!("sealroom listening on {}", server.url());
            tokio::select! {
                result = server.wait() => result,
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        Command::Join(args) => {
            init_logging(&args.log)?;
            sealroom_client::cli::run_join(args).await
        }
        Command::Load(args) => {
            init_logging(&args.log)?;
            sealroom_client::cli::run_load(args).await
        }
        Command::VerifyWeb(args) => verify_web(args).await,
        Command::Account(AccountCommand::Add(args)) => add_account(args).await,
        Command::Account(AccountCommand::Remove { username, data }) => {
            let storage = data.storage().await?;
            sealroom_server::accounts::remove_account(&storage, &username).await?;
            println!("account {username} removed");
            Ok(())
        }
        Command::Account(AccountCommand::List { data }) => {
            let storage = data.storage().await?;
            for account in storage.accounts().await? {
                let totp = if account.totp { " totp" } else { "" };
                let disabled = if account.disabled { " disabled" } else { "" };
                println!("{} {}{totp}{disabled}", account.username, account.org_role);
            }
            Ok(())
        }
        Command::Account(AccountCommand::SetRole {
            username,
            role,
            data,
        }) => {
            let storage = data.storage().await?;
            sealroom_server::accounts::set_role(&storage, &username, role).await?;
            println!("account {username} is now {role}");
            Ok(())
        }
        Command::Room(command) => manage_rooms(command).await,
        Command::Audit(command) => run_audit(command).await,
        Command::Admin(AdminCommand::MfaPolicy { policy, data }) => {
            let storage = data.storage().await?;
            if let Some(policy) = policy {
                sealroom_server::mfa::set_policy(&storage, &policy, None).await?;
            }
            println!("{}", sealroom_server::mfa::policy(&storage).await?);
            Ok(())
        }
        Command::Recording(command) => sealroom_client::cli::run_recording(command).await,
        Command::Record(args) => {
            init_logging(&args.log)?;
            sealroom_client::cli::run_record(args).await
        }
    }
}

async fn manage_rooms(command: RoomCommand) -> anyhow::Result<()> {
    match command {
        RoomCommand::Add(args) => {
            let config = args.data.config()?;
            let password = args.password_stdin.then(read_secret_line).transpose()?;
            let storage = Storage::open(&config.data_dir, config.database_url.as_ref()).await?;
            let settings = KeptSettings {
                lobby: args.lobby,
                wait_for_moderator: args.wait_for_moderator,
                ..KeptSettings::default()
            };
            let organisation = storage
                .org_settings(OrgSettings::from_config(&config))
                .await?;
            let policy = PasswordPolicy {
                min_chars: organisation.room_password_min_chars,
            };
            persistent_rooms::create(
                &storage,
                policy,
                &args.name,
                settings,
                password.as_deref(),
                None,
            )
            .await?;
            println!("persistent room {} made", args.name);
        }
        RoomCommand::Remove { name, data } => {
            let storage = data.storage().await?;
            persistent_rooms::remove(&storage, &name, None).await?;
            println!("persistent room {name} removed");
        }
        RoomCommand::List { data } => {
            let storage = data.storage().await?;
            for (name, _) in storage.persistent_rooms().await? {
                println!("{name}");
            }
        }
    }
    Ok(())
}

async fn run_audit(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { data } => verify_audit(&data).await,
        AuditCommand::Export(args) => export_audit(args).await,
    }
}

/// The database, which must exist: reading a log never makes one. (A PostgreSQL database is
/// made by its administrator; connecting to one that is not there fails.)
async fn existing_storage(data: &DataArgs) -> anyhow::Result<Storage> {
    let config = data.config()?;
    anyhow::ensure!(
        config.database_url.is_some() || config.data_dir.join("sealroom.db").is_file(),
        "no sealroom database in {}",
        config.data_dir.display()
    );
    data.storage().await
}

async fn verify_audit(data: &DataArgs) -> anyhow::Result<()> {
    let report = existing_storage(data).await?.verify_audit_chain().await?;
    println!("{} audit records verified", report.verified);
    if let Some((seq, hash)) = &report.head {
        println!("head: record {seq} hash {hash}");
    }
    match report.fault {
        Some(fault) => anyhow::bail!("the audit log does not verify: {fault}"),
        None => Ok(()),
    }
}

async fn export_audit(args: AuditExportArgs) -> anyhow::Result<()> {
    let storage = existing_storage(&args.data).await?;
    let filter = AuditExportFilter {
        since: args.since,
        until: args.until,
        room: args.room,
        action: args.action,
        participant: args.participant,
        contains: args.contains,
    };
    let mut export = AuditExport::new(storage, filter, args.format);
    let mut out = std::io::BufWriter::new(std::io::stdout());
    while let Some(chunk) = export.next_chunk().await? {
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(())
}

/// Prints both bundle hashes, then "matches", or each difference and fails.
async fn verify_web(args: VerifyWebArgs) -> anyhow::Result<()> {
    let (expected, source) = match &args.web_dir {
        Some(dir) => (WebBundle::read_dir(dir)?, dir.display().to_string()),
        None => (
            WebBundle::embedded()?.context(
                "this binary embeds no web client (built without the embed-web feature): pass \
                 --web DIR, a web client built from the server's sources",
            )?,
            "embedded in this binary".to_owned(),
        ),
    };
    let expected = expected.manifest();
    let served = Served::fetch(&args.server, args.ca_file.as_deref(), &expected).await?;
    println!("expected web bundle {} ({source})", expected.bundle_hash());
    println!("served web bundle   {}", served.files.bundle_hash());
    let differences = served.differences(&expected);
    if differences.is_empty() {
        println!("matches");
        return Ok(());
    }
    for difference in &differences {
        println!("{difference}");
    }
    anyhow::bail!(
        "{} does not serve the expected web client ({} differences)",
        args.server,
        differences.len()
    )
}

async fn add_account(args: AccountAddArgs) -> anyhow::Result<()> {
    let config = args.data.config()?;
    let password = read_secret_line()?;
    let storage = Storage::open(&config.data_dir, config.database_url.as_ref()).await?;
    let created = sealroom_server::accounts::create_account(
        &storage,
        &config.accounts,
        &args.username,
        &password,
        args.totp,
        args.role,
    )
    .await?;
    println!("account {} made", args.username);
    if let Some(uri) = created.totp_uri {
        println!("{uri}");
    }
    Ok(())
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
