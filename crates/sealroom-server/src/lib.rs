//! # sealroom-server
//!
//! `sealroom serve`: the HTTP API and WebSocket signalling (axum), rooms and the MLS delivery
//! service ([`room`]), the store of rooms' encrypted files ([`blob_store`]) and of encrypted
//! meeting recordings ([`recording_store`]), the SFU's I/O
//! driver ([`media`]), the SQLite database ([`storage`]) and metrics. It relays what clients
//! encrypt and never holds a key that could read it: it follows each group's public state and
//! may propose removals, nothing more.

#![forbid(unsafe_code)]

pub mod accounts;
mod admin;
mod audit;
pub mod audit_export;
pub mod blob_store;
mod blobs;
pub mod client_address;
pub mod config;
mod external_accounts;
mod file_transfer;
pub mod http_security;
pub mod invites;
pub mod kept_messages;
pub mod ldap;
mod mailbox;
pub mod media;
pub mod metrics;
pub mod mfa;
pub mod oidc;
pub mod org_identity;
pub mod org_roles;
pub mod org_settings;
pub mod passkeys;
pub mod password;
pub mod persistent_rooms;
pub mod rate_limit;
pub mod recording_store;
mod recordings;
pub mod room;
pub mod secret_box;
pub mod signalling;
pub mod storage;
pub mod tls;
pub mod turn;
pub mod web_bundle;

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use sealroom_e2ee::{ExternalSender, OrgSigner};
use sealroom_protocol::{ParticipantId, RoomName, ServerMessage};
use subtle::ConstantTimeEq;
use tokio::task::JoinHandle;

use crate::{
    config::Config,
    media::{MediaConfig, MediaEvent, MediaServer},
    metrics::Metrics,
    rate_limit::TokenBuckets,
    room::Room,
    storage::Storage,
};

/// State shared by every connection.
pub struct AppState {
    rooms: Mutex<HashMap<RoomName, Room>>,
    /// The audit log's writer, and room messages waiting for their records.
    audit_log: audit::AuditLog,
    /// Every joined participant's session, by id (see [`mailbox`]).
    mailboxes: Mutex<HashMap<ParticipantId, mailbox::Mailbox>>,
    /// Numbers connections, so a resumed session's old connection ends nothing.
    next_generation: std::sync::atomic::AtomicU64,
    /// How long a dropped session waits for a resume before its participant leaves.
    resume_window: Duration,
    /// TURN relays handed to participants.
    turn: config::TurnSettings,
    external_sender: Arc<ExternalSender>,
    /// Signs organisation bindings (see [`org_identity`]).
    org_signer: OrgSigner,
    media: MediaServer,
    metrics: Metrics,
    join_limits: Mutex<JoinLimits>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<IpAddr>,
    /// Permits for argon2id work (room-password checks and hashes), server-wide.
    password_work: tokio::sync::Semaphore,
    /// Origins whose pages may open the WebSocket (see [`http_security::websocket_origins`]).
    websocket_origins: Vec<String>,
    /// Open signalling connections per client address, and the cap.
    open_connections: Mutex<HashMap<IpAddr, usize>>,
    connections_per_address: usize,
    /// A connection silent this long is closed.
    idle_timeout: Duration,
    /// Each connection's message budget.
    messages_per_connection: rate_limit::RateLimit,
    /// Accounts and sessions.
    storage: Storage,
    sign_in_limits: Mutex<accounts::SignInLimits>,
    /// How long a sign-in lasts.
    session_hours: u64,
    /// The account password policy, for accounts made by accepting an invitation.
    account_settings: config::AccountSettings,
    /// Served over HTTPS: session cookies are `Secure`.
    https: bool,
    /// The organisation's settings, as last saved (read by every join).
    org_settings: std::sync::RwLock<org_settings::OrgSettings>,
    /// The configuration's store limits, within which those settings hold.
    configured_stores: org_settings::ConfiguredStores,
    /// The bearer token `/metrics` takes; none: not served.
    metrics_token: Option<String>,
    /// Rooms' encrypted files.
    blobs: blobs::Blobs,
    /// Encrypted meeting recordings, kept past their meetings.
    recordings: Arc<recordings::Recordings>,
    /// OpenID Connect providers and the sign-ins under way.
    oidc: oidc::Oidc,
    /// The passkeys' relying party and the ceremonies under way.
    passkeys: passkeys::Passkeys,
    /// LDAP and Active Directory directories to sign in with.
    ldap: ldap::Directories,
}

/// Join attempts, limited per client address and per room.
struct JoinLimits {
    per_address: TokenBuckets<IpAddr>,
    per_room: TokenBuckets<RoomName>,
}

/// How long a client may take to send a request's headers: a connection that trickles them
/// (slow loris) is closed. A TLS handshake has as long (axum-server's default).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

fn limit_header_time(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
}

/// A started server.
pub struct RunningServer {
    /// The HTTP address actually bound.
    pub http_addr: SocketAddr,
    /// Whether it serves HTTPS.
    pub tls: bool,
    /// The media server, for tests that tap what it forwards.
    pub media: MediaServer,
    /// The database, for tests that read the audit log.
    pub storage: Storage,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The base URL clients use: `http(s)://address`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.http_addr)
    }

    /// Runs until the server stops (it does not on its own).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await??;
        Ok(())
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Starts everything `config` describes and returns once it listens.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    config.validate()?;
    tokio::task::spawn_blocking(password::StoredPassword::prepare_dummy).await?;
    let storage = Storage::open(&config.data_dir, config.database_url.as_ref()).await?;
    let external_sender = Arc::new(ExternalSender::new(
        storage.external_sender_identity().await?,
    ));
    let (media, media_events) = MediaServer::start(MediaConfig {
        udp_listen: config.media.udp_listen,
        public_ip: config.media.public_ip,
        tcp_listen: config.media.tcp_listen,
        tcp_limits: config.media.ice_tcp_limits(),
        max_publish_bps: config.media.max_publish_bps,
        threads: match config.media.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            threads => threads,
        },
    })?;
    // Bound before the state is made: a loopback server's own origin has the port bound.
    let listener = std::net::TcpListener::bind(config.listen)?;
    listener.set_nonblocking(true)?;
    let http_addr = listener.local_addr()?;
    let (audit_log, audit_records) = audit::AuditLog::new();
    let metrics = Metrics::new(media.clone());
    let configured_stores = org_settings::ConfiguredStores {
        files: config.files,
        recording: config.recording,
    };
    let settings = storage
        .org_settings(org_settings::OrgSettings::from_config(&config))
        .await?;
    let blobs = blobs::Blobs::open(
        config.data_dir.join("blobs"),
        settings.files(config.files),
        metrics.blob_bytes.clone(),
    )
    .await?;
    let recordings = Arc::new(
        recordings::Recordings::open(
            config.data_dir.join("recordings"),
            settings.recording(config.recording),
            metrics.recording_bytes.clone(),
        )
        .await?,
    );
    let state = Arc::new(AppState {
        rooms: Mutex::default(),
        audit_log,
        mailboxes: Mutex::default(),
        next_generation: std::sync::atomic::AtomicU64::new(0),
        resume_window: Duration::from_secs(config.access.resume_window_secs),
        turn: config.turn.clone(),
        external_sender,
        org_signer: storage.org_signing_key().await?,
        metrics,
        media: media.clone(),
        join_limits: Mutex::new(JoinLimits {
            per_address: TokenBuckets::new(config.access.join_per_address),
            per_room: TokenBuckets::new(config.access.join_per_room),
        }),
        trusted_proxies: config.access.trusted_proxies.clone(),
        password_work: tokio::sync::Semaphore::new(config.access.password_checks_at_once),
        websocket_origins: http_security::websocket_origins(
            config.public_origin.as_deref(),
            http_addr,
            config.tls.enabled(),
            &config.access.allowed_origins,
        ),
        open_connections: Mutex::default(),
        connections_per_address: config.access.connections_per_address,
        idle_timeout: Duration::from_secs(config.access.idle_timeout_secs),
        messages_per_connection: config.access.messages_per_connection,
        storage: storage.clone(),
        sign_in_limits: accounts::SignInLimits::new(&config.accounts),
        session_hours: config.accounts.session_hours,
        account_settings: config.accounts.clone(),
        https: config.tls.enabled(),
        org_settings: std::sync::RwLock::new(settings),
        configured_stores,
        metrics_token: config.metrics.token.clone(),
        blobs,
        recordings,
        oidc: oidc::Oidc::new(&config.oidc, &own_origin(&config, http_addr))?,
        passkeys: passkeys::Passkeys::new(&own_origin(&config, http_addr))?,
        ldap: ldap::Directories::new(&config.ldap)?,
    });
    tokio::spawn(audit::write_records(
        Arc::downgrade(&state),
        storage.clone(),
        audit_records,
    ));
    tokio::spawn(audit::keep_retention(Arc::downgrade(&state), config.audit));
    tokio::spawn(forward_media_events(state.clone(), media_events));
    tokio::spawn(tick_rooms(state.clone()));
    tokio::spawn(recordings::sweep(state.clone()));

    let mut app = api(state);
    if let Some(bundle) = web_client(&config)? {
        tracing::info!(bundle_hash = %bundle.manifest().bundle_hash(), "serving the web client");
        app = app.merge(web_bundle::router(bundle));
    }
    let tls = tls::server_config(&config).await?;
    let app = http_security::with_security_headers(app, tls.is_some());
    tracing::info!(%http_addr, tls = tls.is_some(), media_addrs = ?media.udp_addrs(), "sealroom serving");
    let task = serve(listener, app, tls.clone());
    Ok(RunningServer {
        http_addr,
        tls: tls.is_some(),
        media,
        storage,
        task,
    })
}

/// This server's origin as browsers see it: `public_origin`, else the address bound.
fn own_origin(config: &Config, http_addr: SocketAddr) -> String {
    let scheme = if config.tls.enabled() {
        "https"
    } else {
        "http"
    };
    config
        .public_origin
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{http_addr}"))
}

/// The HTTP API: health, metrics, signalling, sign-in, the encrypted files and recordings.
fn api(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics_text))
        .route("/ws", get(signalling::upgrade))
        .route(
            "/api/session",
            post(accounts::sign_in)
                .get(accounts::current_session)
                .delete(accounts::sign_out),
        )
        .route("/api/invite", post(invites::read))
        .route("/api/invite/accept", post(invites::accept))
        .route("/api/auth/providers", get(oidc::providers))
        .route("/api/auth/logout", post(oidc::logout))
        .route("/auth/oidc/{name}/start", get(oidc::start))
        .route("/api/auth/directories", get(ldap::directories))
        .route("/api/auth/ldap/{name}", post(ldap::sign_in))
        .route(oidc::CALLBACK_PATH, get(oidc::callback))
        .route("/api/blobs", post(blobs::create))
        .route(
            "/api/blobs/{id}",
            get(blobs::download)
                .put(blobs::append)
                .delete(blobs::delete),
        )
        .route(
            "/api/recordings",
            post(recordings::create).get(recordings::list),
        )
        .route("/api/recordings/challenge", post(recordings::challenge))
        .route(
            "/api/recordings/{id}",
            get(recordings::download)
                .put(recordings::append)
                .delete(recordings::delete),
        )
        .route("/api/recordings/{id}/complete", post(recordings::complete))
        .merge(admin::router())
        .merge(mfa::router())
        .merge(org_identity::router())
        .with_state(state)
}

/// Serves `app` on `listener`, over TLS if `tls` is given.
fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    // The peer address feeds the per-address join limit.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    // Signalling is small messages each way: without TCP_NODELAY, Nagle's algorithm holds one
    // back for the peer's delayed ACK (~40 ms; docs/BENCHMARKS.md, chat delivery).
    let no_delay = axum_server::accept::NoDelayAcceptor::new();
    match tls {
        Some(tls) => {
            let mut server =
                axum_server::from_tcp_rustls(listener, tls).map(|tls| tls.acceptor(no_delay));
            limit_header_time(server.http_builder());
            tokio::spawn(server.serve(app))
        }
        None => {
            let mut server = axum_server::from_tcp(listener).acceptor(no_delay);
            limit_header_time(server.http_builder());
            tokio::spawn(server.serve(app))
        }
    }
}

/// The web client to serve: `web_dir`'s when one is configured, else the one embedded in the
/// binary, if any.
fn web_client(config: &Config) -> anyhow::Result<Option<web_bundle::WebBundle>> {
    Ok(match &config.web_dir {
        Some(dir) => Some(web_bundle::WebBundle::read_dir(dir)?),
        None => web_bundle::WebBundle::embedded()?,
    })
}

/// `GET /metrics`: for the operator's scraper, with the configured bearer token (401 without
/// it); without one configured, not served (404).
async fn metrics_text(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(token) = &state.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = http_security::bearer_token(&headers).unwrap_or_default();
    if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
        return (StatusCode::UNAUTHORIZED, challenge).into_response();
    }
    state.metrics.render().into_response()
}

/// How long a member asked to commit may take before the next member is asked.
const COMMIT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Drives the rooms' timers: a commit request that a member sits on passes to another member;
/// join-limit buckets that have refilled are forgotten; blobs whose time is up are deleted.
async fn tick_rooms(state: Arc<AppState>) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        let now = Instant::now();
        {
            let mut limits = state.join_limits.lock().unwrap_or_else(|p| p.into_inner());
            limits.per_address.prune(now);
            limits.per_room.prune(now);
        }
        state
            .sign_in_limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .prune(now);
        state.blobs.expire();
        {
            let mut rooms = state.rooms.lock().unwrap_or_else(|p| p.into_inner());
            for (name, room) in rooms.iter_mut() {
                // Queued under the lock, like every room's messages, and behind any held for
                // an audit record, to keep their order.
                state.dispatch_in(name, room.tick(now, COMMIT_REQUEST_TIMEOUT));
            }
        }
        // Sessions that waited for a resume in vain: their participants leave.
        let expired: Vec<(RoomName, ParticipantId)> = state
            .mailboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, mailbox)| mailbox.expired(now, state.resume_window))
            .map(|(id, mailbox)| (mailbox.room.clone(), id.clone()))
            .collect();
        for (room, id) in expired {
            tracing::info!(%room, participant = %id, "no resume within the window: left");
            signalling::leave(&state, &room, &id);
        }
    }
}

/// The SFU renegotiates with a participant through its signalling connection.
async fn forward_media_events(
    state: Arc<AppState>,
    mut events: tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
) {
    while let Some(event) = events.recv().await {
        match event {
            MediaEvent::Offer { participant, sdp } => {
                state.dispatch(vec![(participant, ServerMessage::SdpOffer { sdp })]);
            }
            MediaEvent::TrackRefused {
                participant,
                track: media::RefusedTrack::ScreenShare,
            } => {
                state.dispatch(vec![(
                    participant,
                    ServerMessage::Error {
                        code: sealroom_protocol::ErrorCode::Forbidden,
                        message: "screen sharing is not allowed for your role in this room".into(),
                        retry_after_ms: None,
                    },
                )]);
            }
        }
    }
}
