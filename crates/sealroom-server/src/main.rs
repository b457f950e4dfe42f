//! The `sealroom` binary: `sealroom serve` runs the server, `sealroom join` the native client.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

use clap::{Args, Parser, Subcommand};
use sealroom_server::config::Config;
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
    /// Data directory: the SQLite database (audit log, server keys) [default: ./sealroom-data].
    #[arg(long = "data", env = "SEALROOM_DATA")]
    data_dir: Option<PathBuf>,
    /// Directory of the built browser client to serve at / (e.g. web/dist) [default: none].
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
    }
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
