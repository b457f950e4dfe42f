//! `sealroom join`: join a room from the command line, optionally publish synthetic media and
//! chat, and print a report of what was sent, received and decrypted.

mod chat;
mod files;
mod record;
mod recording;

use std::{collections::BTreeMap, net::IpAddr, time::Duration};

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::{
    media::{MediaStats, SyntheticMedia},
    session::{JoinOptions, RoomClient, Status},
};

pub use chat::ChatReceived;
pub use record::{RecordArgs, run_record};
pub use recording::{RecordingCommand, run_recording};

/// `sealroom join` flags.
#[derive(Args, Debug)]
pub struct JoinArgs {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Room name (1-64 of a-z, 0-9, -), typed: without the room link's secret we wait in the
    /// lobby until a moderator admits us, or, if the room is free, open it and print its link.
    #[arg(long, required_unless_present = "link")]
    pub room: Option<String>,
    /// The room link as people share it, `http(s)://host[:port]/<room>#k=<secret>`: the
    /// server, the room and the secret that lets members add us (instead of --server and
    /// --room; prefer the variable: flags show in `ps`).
    #[arg(
        long,
        env = "SEALROOM_ROOM_LINK",
        hide_env_values = true,
        conflicts_with = "room"
    )]
    pub link: Option<String>,
    /// A file that keeps this device's signature key (made on first use, mode 0600): the
    /// same fingerprint in every meeting, so a "verified" mark lasts. Without it, a new key
    /// for every join.
    #[arg(long, env = "SEALROOM_DEVICE_KEY")]
    pub device_key: Option<std::path::PathBuf>,
    /// Display name, also the MLS credential name others see.
    #[arg(long)]
    pub name: String,
    /// Publish synthetic audio (50 frames/s) and video (30 frames/s, keyframe every 2 s).
    #[arg(long)]
    pub synthetic: bool,
    /// Publish video as two simulcast layers.
    #[arg(long, requires = "synthetic")]
    pub simulcast: bool,
    /// Chat, end-to-end encrypted: each line typed on standard input goes to everyone;
    /// `/msg NAME TEXT` sends TEXT to the member named NAME alone (a NAME with spaces in double
    /// quotes; a line starting with // sends one starting with /). Lines typed before we are in
    /// the encrypted group wait for it. Prints who is in the group and the messages received
    /// as they come, `[HH:MM:SS] name: text` (the sender's clock, UTC), or with `--report json`
    /// one JSON object per line. At the end of the input the client stays, showing what comes,
    /// until --duration, Ctrl-C or the meeting's end.
    #[arg(long)]
    pub chat: bool,
    /// Share this file, end-to-end encrypted, once we are in the encrypted group (repeat for
    /// several): the server stores only its ciphertext; members get its name, size, key and
    /// SHA-256 inside MLS. Prints each file's size and throughput when it is sent.
    #[arg(long = "send-file", value_name = "PATH")]
    pub send_files: Vec<std::path::PathBuf>,
    /// Download every file members share into this directory, decrypted and checked against
    /// its SHA-256 (a file that fails leaves nothing behind; a name taken gets a number), and
    /// print each, `[HH:MM:SS] name sent file (size): saved to DIR/file`, or with
    /// `--report json` one JSON object per line.
    #[arg(long, value_name = "DIR")]
    pub receive_files: Option<std::path::PathBuf>,
    /// Leave after this many seconds (default: stay until Ctrl-C or the meeting's end).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Print a report when leaving (with --chat or files, a JSON report on one line, like
    /// their lines).
    #[arg(long, value_enum)]
    pub report: Option<ReportFormat>,
    /// Local IP address for media.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_ip: IpAddr,
    /// The room's password, if it has one (prefer the variable: flags show in `ps`).
    #[arg(long, env = "SEALROOM_ROOM_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The room's moderator key: join as a moderator (prefer the variable).
    #[arg(long, env = "SEALROOM_MODERATOR_KEY", hide_env_values = true)]
    pub moderator_key: Option<String>,
    /// For an https:// server with its own certificate: trust only the certificates in this
    /// PEM file (e.g. `sealroom-data/tls/cert.pem` of a `--tls-self-signed` server).
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Do not join again on our own when the connection drops (by default the client does,
    /// as a new member, until the server is back).
    #[arg(long)]
    pub no_reconnect: bool,
    /// Sign in to this account before joining (else join as a guest).
    #[arg(long, env = "SEALROOM_ACCOUNT")]
    pub account: Option<String>,
    /// The account's password (prefer the variable).
    #[arg(
        long,
        env = "SEALROOM_ACCOUNT_PASSWORD",
        hide_env_values = true,
        requires = "account"
    )]
    pub account_password: Option<String>,
    /// The account's current TOTP code, if it has a second factor.
    #[arg(long, requires = "account")]
    pub totp_code: Option<String>,
    /// Log filter.
    #[arg(long, env = "SEALROOM_LOG", default_value = "warn")]
    pub log: String,
}

impl JoinArgs {
    /// Whether the chat or files print lines as they come.
    fn prints_lines(&self) -> bool {
        self.chat || !self.send_files.is_empty() || self.receive_files.is_some()
    }
}

/// `sealroom load` flags.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// SFU to load; repeat to run several one after the other and compare them
    /// (`--target sealroom --target janus`).
    #[arg(long = "target", value_enum, default_values_t = [crate::load::Target::Sealroom])]
    pub targets: Vec<crate::load::Target>,
    /// Sealroom server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The Sealroom server's process id, to measure its CPU time and memory.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The server's `/metrics` bearer token, to read how many packets it forwarded.
    #[arg(long, env = "SEALROOM_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Janus API URL (its HTTP transport), for `--target janus`.
    #[arg(long, default_value = "http://127.0.0.1:8088/janus")]
    pub janus_url: String,
    /// The Janus process id, to measure its CPU time and memory.
    #[arg(long)]
    pub janus_pid: Option<u32>,
    /// Participants in all.
    #[arg(long, default_value_t = 10)]
    pub participants: usize,
    /// Participants per room.
    #[arg(long, default_value_t = 10)]
    pub room_size: usize,
    /// Participants per room who publish audio and video; the others only receive, as most
    /// people in a large meeting [default: all of them].
    #[arg(long)]
    pub publishers: Option<usize>,
    /// Seconds of steady state to measure.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Sealroom only: after the media window, send this many end-to-end encrypted chat
    /// messages per second in each room for as long again, and measure their delivery.
    #[arg(long, default_value_t = 0.0)]
    pub chat_rate: f64,
    /// Local IP address for media.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_ip: IpAddr,
    /// Print JSON instead of a table: one report, or with several targets
    /// `{"reports": [...], "sealroom_over_janus": {...}}`.
    #[arg(long)]
    pub json: bool,
    /// Log filter.
    #[arg(long, env = "SEALROOM_LOG", default_value = "error")]
    pub log: String,
}

/// Runs `sealroom load`.
pub async fn run_load(args: LoadArgs) -> anyhow::Result<()> {
    use crate::load::{Comparison, Endpoint, LoadPlan, Target};
    anyhow::ensure!(
        args.duration.is_finite() && args.duration > 0.0,
        "--duration must be a positive number of seconds"
    );
    anyhow::ensure!(
        args.chat_rate.is_finite() && args.chat_rate >= 0.0,
        "--chat-rate must be a number of messages per second, 0 or more"
    );
    let plan = LoadPlan {
        participants: args.participants,
        room_size: args.room_size,
        publishers: args.publishers.unwrap_or(args.room_size),
        duration: Duration::from_secs_f64(args.duration),
        bind_ip: args.bind_ip,
        chat_rate: args.chat_rate,
    };
    let mut reports = Vec::new();
    for (i, target) in args.targets.iter().enumerate() {
        if i > 0 {
            // Let the previous run's connections close before the next one starts.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        let endpoint = match target {
            Target::Sealroom => Endpoint::Sealroom {
                server: args.server.clone(),
                pid: args.server_pid,
                metrics_token: args.metrics_token.clone(),
            },
            Target::Janus => Endpoint::Janus {
                url: args.janus_url.clone(),
                pid: args.janus_pid,
            },
        };
        if !args.json {
            eprintln!("loading {} ...", target.name());
        }
        reports.push(crate::load::run(&plan, &endpoint).await?);
    }
    if args.json {
        let json = match <[_; 1]>::try_from(reports) {
            Ok([report]) => serde_json::to_string_pretty(&report)?,
            Err(reports) => serde_json::to_string_pretty(&Comparison::new(reports))?,
        };
        println!("{json}");
    } else {
        print!("{}", Comparison::new(reports));
    }
    Ok(())
}

/// Report formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReportFormat {
    /// One JSON object.
    Json,
    /// Lines for people.
    Text,
}

/// What `sealroom join --report json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Our display name.
    pub name: String,
    /// The room.
    pub room: String,
    /// MLS epoch at the end (absent if we were removed).
    pub epoch: Option<u64>,
    /// Security code digits at the end.
    pub security_code: Option<String>,
    /// Security code words.
    pub security_words: Option<Vec<String>>,
    /// The MLS roster at the end, with the accounts the organisation vouches for.
    pub roster: Vec<crate::session::RosterEntry>,
    /// The server presented another organisation key than the one pinned for it.
    pub org_key_changed: Option<crate::session::OrgKeyChange>,
    /// Frames we sent.
    pub frames_sent: FramesSent,
    /// Frames received and decrypted, per sender name.
    pub received: BTreeMap<String, ReceivedFrom>,
    /// Frames that failed to decrypt, by reason.
    pub decrypt_failures: BTreeMap<String, u64>,
    /// Milliseconds from connecting to the first decrypted frame.
    pub join_time_ms: Option<u64>,
    /// Epoch changes during the session.
    pub epoch_changes: Vec<crate::session::EpochEvent>,
    /// Commits of ours that lost their epoch.
    pub commits_rejected: u64,
    /// Errors the server sent.
    pub server_errors: Vec<String>,
    /// Problems on our side.
    pub local_errors: Vec<String>,
    /// Chat messages received.
    pub chat: Vec<ChatReceived>,
    /// Every recording of the meeting seen under way while we were in it (from the
    /// recorders' notices in the encrypted group).
    pub recordings: Vec<sealroom_participant::ActiveRecording>,
}

/// Frames we sent.
#[derive(Debug, Serialize)]
pub struct FramesSent {
    /// Audio frames.
    pub audio: u64,
    /// Video frames.
    pub video: u64,
    /// Of which key frames.
    pub keyframes: u64,
    /// Frames dropped because no media key was installed yet (never sent in the clear).
    pub dropped_no_key: u64,
}

/// Frames from one sender.
#[derive(Debug, Serialize)]
pub struct ReceivedFrom {
    /// Audio frames decrypted.
    pub audio_frames: u64,
    /// Video frames decrypted.
    pub video_frames: u64,
}

impl Report {
    /// Builds the report from the client's status, media counters and the chat received.
    pub fn new(
        name: &str,
        room: &str,
        status: &Status,
        media: &MediaStats,
        chat: Vec<ChatReceived>,
    ) -> Self {
        let received = media
            .per_sender
            .iter()
            .map(|(leaf, stats)| {
                let name = status
                    .names_by_leaf
                    .get(leaf)
                    .cloned()
                    .unwrap_or_else(|| format!("leaf {leaf}"));
                (
                    name,
                    ReceivedFrom {
                        audio_frames: stats.audio_frames,
                        video_frames: stats.video_frames,
                    },
                )
            })
            .collect();
        Self {
            name: name.to_owned(),
            room: room.to_owned(),
            epoch: status.epoch,
            security_code: status.security_code.clone(),
            security_words: status.security_words.clone(),
            roster: status.roster.clone(),
            org_key_changed: status.org_key_changed.clone(),
            frames_sent: FramesSent {
                audio: media.audio_frames_sent,
                video: media.video_frames_sent,
                keyframes: media.keyframes_sent,
                dropped_no_key: media.frames_dropped_no_key,
            },
            received,
            decrypt_failures: media.decrypt_failures.clone(),
            join_time_ms: media.first_decrypted_at.map(|t| t.as_millis() as u64),
            epoch_changes: status.epoch_changes.clone(),
            commits_rejected: status.commits_rejected,
            server_errors: status.server_errors.clone(),
            local_errors: status.local_errors.clone(),
            chat,
            recordings: Vec::new(),
        }
    }
}

/// Where `sealroom join` goes: from `--link`, or from `--server` and `--room`.
struct Place {
    server: String,
    room: String,
    /// The link's secret.
    link: Option<String>,
}

impl Place {
    fn of(args: &JoinArgs) -> anyhow::Result<Self> {
        match (&args.link, &args.room) {
            (Some(link), _) => Self::from_link(link),
            (None, Some(room)) => Ok(Self {
                server: args.server.clone(),
                room: room.clone(),
                link: None,
            }),
            (None, None) => anyhow::bail!("say which room: --room or --link"),
        }
    }

    /// `http(s)://host[:port]/<room>#k=<secret>` (other `&`-separated fragment parts, such as
    /// a host link's `host=`, are left alone).
    fn from_link(link: &str) -> anyhow::Result<Self> {
        let malformed =
            || anyhow::anyhow!("a room link reads http(s)://host[:port]/<room>#k=<secret>");
        let (address, fragment) = link.split_once('#').ok_or_else(malformed)?;
        let secret = fragment
            .split('&')
            .find_map(|part| part.strip_prefix("k="))
            .ok_or_else(malformed)?;
        let (server, room) = address
            .rsplit_once('/')
            .filter(|(server, room)| !room.is_empty() && server.contains("://"))
            .ok_or_else(malformed)?;
        Ok(Self {
            server: server.to_owned(),
            room: room.to_owned(),
            link: Some(secret.to_owned()),
        })
    }
}

/// Runs `sealroom join`.
pub async fn run_join(args: JoinArgs) -> anyhow::Result<()> {
    let place = Place::of(&args)?;
    let duration = duration(args.duration)?;
    if let Some(dir) = &args.receive_files {
        anyhow::ensure!(
            dir.is_dir(),
            "--receive-files {}: not a directory",
            dir.display()
        );
    }
    let session_token = match &args.account {
        Some(username) => Some(
            crate::account::sign_in(
                &place.server,
                args.ca_file.as_deref(),
                &crate::account::Credentials {
                    username: username.clone(),
                    password: args.account_password.clone().unwrap_or_default(),
                    totp_code: args.totp_code.clone(),
                },
            )
            .await?,
        ),
        None => None,
    };
    let mut client = RoomClient::join(JoinOptions {
        server: place.server.clone(),
        room: place.room.clone(),
        display_name: args.name.clone(),
        publish: args.synthetic.then_some(SyntheticMedia {
            audio: true,
            video: true,
            simulcast: args.simulcast,
        }),
        bind_ip: args.bind_ip,
        password: args.password.clone(),
        moderator_key: args.moderator_key.clone(),
        ca_file: args.ca_file.clone(),
        reconnect: !args.no_reconnect,
        session_token,
        link: place.link.clone(),
        device_key: args.device_key.clone(),
    })
    .await?;
    let events = client
        .take_chat()
        .expect("a new client's chat is there to take");
    tell_new_link(&client, &place).await;
    let shown = args.chat.then(|| args.report.unwrap_or(ReportFormat::Text));
    let file_lines = args.report.unwrap_or(ReportFormat::Text);
    let receiver = args
        .receive_files
        .clone()
        .map(|dir| files::Receiver::new(client.blob_access(), dir, file_lines));
    let mut chat = Vec::new();
    let mut recordings = Vec::new();
    let recording_lines = args.prints_lines().then_some(file_lines);
    let ended_by_itself = tokio::select! {
        () = stop_after(duration) => false,
        () = watch_recordings(&client, recording_lines, &mut recordings) => false,
        () = chat::show(events, shown, &mut chat, receiver.as_ref()) => true,
        () = chat::send_typed_lines(&client), if args.chat => false,
        () = files::send_all(&client, &args.send_files, file_lines),
            if !args.send_files.is_empty() => false,
    };
    let media = client.media_stats().await.unwrap_or_default();
    let status = client.leave().await;
    if ended_by_itself {
        eprintln!("{}", why_ended(&status));
    }
    let mut report = Report::new(&args.name, &place.room, &status, &media, chat);
    report.recordings = recordings;
    match args.report {
        // One object per line, as the chat's and files' lines before it.
        Some(ReportFormat::Json) if args.prints_lines() => {
            println!("{}", serde_json::to_string(&report)?)
        }
        Some(ReportFormat::Json) => println!("{}", serde_json::to_string_pretty(&report)?),
        Some(ReportFormat::Text) => print_text(&report),
        None => {}
    }
    Ok(())
}

/// Tells of the meeting's recordings as they start and stop, one line each time they change:
/// with `lines`, on standard output as the chat's and files' lines are (`{"type":
/// "recordings", ...}` in JSON), else for people on standard error. Keeps every recording seen
/// in `seen`. Never returns.
async fn watch_recordings(
    client: &RoomClient,
    lines: Option<ReportFormat>,
    seen: &mut Vec<sealroom_participant::ActiveRecording>,
) {
    let mut shown = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = client.status().recordings;
        if now == shown {
            continue;
        }
        for recording in &now {
            if !seen.contains(recording) {
                seen.push(recording.clone());
            }
        }
        let text = if now.is_empty() {
            "* no recording under way".to_owned()
        } else {
            let each: Vec<String> = now
                .iter()
                .map(|r| {
                    format!(
                        "{} records {} for the keys {}",
                        chat::printable(&r.recorder_name),
                        r.id,
                        r.owners.join(", ")
                    )
                })
                .collect();
            format!("* recording: {}", each.join("; "))
        };
        match lines {
            Some(ReportFormat::Json) => chat::emit(
                &serde_json::json!({"type": "recordings", "recordings": now}).to_string(),
            ),
            Some(ReportFormat::Text) => chat::emit(&text),
            None => eprintln!("{text}"),
        }
        shown = now;
    }
}

/// `--duration`'s seconds, checked before we join.
fn duration(seconds: Option<f64>) -> anyhow::Result<Option<Duration>> {
    match seconds {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Ok(Some(Duration::from_secs_f64(seconds)))
        }
        Some(seconds) => anyhow::bail!("--duration must be a non-negative number, got {seconds}"),
        None => Ok(None),
    }
}

/// Returns once `duration` (if any) has passed, or at Ctrl-C.
async fn stop_after(duration: Option<Duration>) {
    let timer = async {
        match duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = timer => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Why the session ended without us leaving.
fn why_ended(status: &Status) -> &'static str {
    use sealroom_protocol::RemovalReason;
    match status.removed_by_moderator {
        Some(RemovalReason::MeetingEnded) => "a moderator ended the meeting",
        Some(RemovalReason::Kicked) => "a moderator removed us from the meeting",
        Some(RemovalReason::Banned) => "a moderator banned this device from the room",
        Some(RemovalReason::Denied) => "a moderator turned us away",
        None => "the connection to the server closed",
    }
}

/// If we founded the group without a link, our client made one: it is printed for the user
/// to share, since someone with only the room's name waits for a moderator's admission.
async fn tell_new_link(client: &RoomClient, place: &Place) {
    let settled = |s: &Status| s.epoch.is_some() || s.in_lobby || s.removed;
    let status = client
        .wait_until(Duration::from_secs(10), settled)
        .await
        .unwrap_or_else(|status| status);
    if let Some(secret) = status.new_link {
        eprintln!("room link: {}/{}#k={secret}", place.server, place.room);
    }
}

fn print_text(report: &Report) {
    println!("room {} as {}", report.room, report.name);
    if let (Some(epoch), Some(code)) = (report.epoch, &report.security_code) {
        println!("epoch {epoch}, security code {code}");
    }
    println!(
        "sent {} audio and {} video frames ({} key frames)",
        report.frames_sent.audio, report.frames_sent.video, report.frames_sent.keyframes
    );
    for (name, from) in &report.received {
        println!(
            "from {name}: {} audio, {} video frames decrypted",
            from.audio_frames, from.video_frames
        );
    }
    for (reason, count) in &report.decrypt_failures {
        println!("decrypt failures ({reason}): {count}");
    }
    if let Some(ms) = report.join_time_ms {
        println!("join time {ms} ms");
    }
    if !report.chat.is_empty() {
        println!("{} chat messages received", report.chat.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_link_names_the_server_the_room_and_the_secret() {
        let place =
            Place::from_link("https://meet.example:8443/quiet-otter#k=abc_DEF-123").unwrap();
        assert_eq!(place.server, "https://meet.example:8443");
        assert_eq!(place.room, "quiet-otter");
        assert_eq!(place.link.as_deref(), Some("abc_DEF-123"));
        let host_link = Place::from_link("http://127.0.0.1:8080/r#k=s3cret&host=00ff").unwrap();
        assert_eq!(host_link.link.as_deref(), Some("s3cret"));
        for bad in [
            "http://127.0.0.1:8080/quiet-otter",
            "http://127.0.0.1:8080/#k=x",
            "quiet-otter#k=x",
            "http://127.0.0.1:8080/quiet-otter#host=00ff",
        ] {
            assert!(Place::from_link(bad).is_err(), "{bad}");
        }
    }
}
