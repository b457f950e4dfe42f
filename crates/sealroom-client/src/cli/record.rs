//! `sealroom record`: an unattended recorder that the recording's owner runs on their own
//! machine (never the server operator). It joins the meeting with the room link as a visible
//! member of the encrypted group (named "Recorder" unless told otherwise, in everyone's
//! roster), tells the group it records and for whom (the owners' key fingerprints, which
//! every client shows), receives the media the SFU already forwards to members, decrypts it
//! with its own SFrame keyring, and writes the encoded VP8 and Opus frames into one WebM file
//! without re-encoding (see [`crate::record`] for timestamps and tracks, [`crate::record::mux`]
//! for what is on disk when). It publishes no media: its peer connection only receives (a data
//! channel carries the transport until the SFU adds the tracks it forwards).
//!
//! At the end (Ctrl-C, SIGTERM, `--duration`, or the meeting's end) it tells the group the
//! recording stopped, encrypts the WebM to the `--owner` keys into `DIR/<id>.srr` (`SRR1`),
//! uploads that to the server's recording store (while still a member: the store takes
//! uploads only from members whose role the room's `recording` permission names), and leaves.
//! `sealroom recording decrypt` opens the file with an owner's secret key.
//! Frames that arrived before the group was told are not recorded.

use std::{
    collections::BTreeMap,
    fs::{self, File, OpenOptions},
    io::{BufReader, BufWriter, Read, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow};
use clap::Args;
use sealroom_e2ee::{RecordingEncryptor, RecordingOwnerPublic};
use sealroom_protocol::ErrorCode;
use serde::Serialize;
use str0m::media::MediaKind;

use super::{Place, ReportFormat};
use crate::{
    media::ReceivedFrame,
    record::{
        Dropped, Frame, Kind, Recorder, Track,
        mux::{SpoolReader, WebmWriter, spool},
    },
    session::{JoinOptions, RoomClient, Status},
};

/// How long the recorder waits to be in the encrypted group before it gives up.
const GROUP_PATIENCE: Duration = Duration::from_secs(60);

/// Bytes of the WebM read at a time to encrypt.
const SEAL_READ_BYTES: usize = 1024 * 1024;

/// `sealroom record` flags.
#[derive(Args, Debug)]
pub struct RecordArgs {
    /// The room link, `http(s)://host[:port]/<room>#k=<secret>` (prefer the variable: flags
    /// show in `ps`).
    #[arg(long, env = "SEALROOM_ROOM_LINK", hide_env_values = true)]
    pub link: String,
    /// An owner's public key, as `sealroom recording keygen` prints it (repeat for several, at
    /// most 16): only their secret keys open the recording.
    #[arg(long = "owner", value_name = "PUBLIC_KEY", required = true)]
    pub owners: Vec<String>,
    /// The directory the recording goes to, as `<id>.srr`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Stop after this many seconds of recording (default: at Ctrl-C, SIGTERM or the meeting's
    /// end).
    #[arg(long)]
    pub duration: Option<f64>,
    /// The name every participant sees in the roster (the MLS credential name).
    #[arg(long, default_value = "Recorder")]
    pub name: String,
    /// Print JSON lines (`recording_started`, `recording_written`) instead of lines for
    /// people.
    #[arg(long, value_enum)]
    pub report: Option<ReportFormat>,
    /// A file that keeps this device's signature key (as `sealroom join --device-key`).
    #[arg(long, env = "SEALROOM_DEVICE_KEY")]
    pub device_key: Option<PathBuf>,
    /// Local IP address for media.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_ip: std::net::IpAddr,
    /// The room's password, if it has one (prefer the variable).
    #[arg(long, env = "SEALROOM_ROOM_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// For an https:// server with its own certificate: trust only the certificates in this
    /// PEM file.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Log filter.
    #[arg(long, env = "SEALROOM_LOG", default_value = "warn")]
    pub log: String,
}

/// What the recorder prints.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    RecordingStarted {
        id: &'a str,
        /// The owners' key fingerprints, as every participant's client shows them.
        owners: &'a [String],
        name: &'a str,
    },
    RecordingWritten {
        id: &'a str,
        path: String,
        /// Bytes of the `.srr`.
        size: u64,
        /// Milliseconds from the start to the stop.
        duration_ms: u64,
        tracks: Vec<TrackLine>,
        dropped: &'a Dropped,
    },
}

/// One track as reported, in the WebM's track order.
#[derive(Serialize)]
struct TrackLine {
    /// The participant's MLS credential name (else `leaf N`).
    participant: String,
    kind: Kind,
    #[serde(flatten)]
    track: Track,
}

impl Line<'_> {
    fn print(&self, format: ReportFormat) {
        match format {
            ReportFormat::Json => {
                super::chat::emit(&serde_json::to_string(self).expect("a line serializes"))
            }
            ReportFormat::Text => super::chat::emit(&self.text()),
        }
    }

    fn text(&self) -> String {
        match self {
            Line::RecordingStarted { id, owners, name } => format!(
                "recording {id} as {}, for the owners {}",
                super::chat::printable(name),
                owners.join(", ")
            ),
            Line::RecordingWritten {
                path,
                size,
                duration_ms,
                tracks,
                ..
            } => {
                let tracks: Vec<String> = tracks
                    .iter()
                    .map(|t| match t.kind {
                        Kind::Video => format!(
                            "{} video VP8 {}x{} ({} frames)",
                            super::chat::printable(&t.participant),
                            t.track.width,
                            t.track.height,
                            t.track.frames
                        ),
                        Kind::Audio => format!(
                            "{} audio Opus ({} frames)",
                            super::chat::printable(&t.participant),
                            t.track.frames
                        ),
                    })
                    .collect();
                format!(
                    "recording written to {path}: {size} bytes, {:.1} s, {} tracks: {}",
                    *duration_ms as f64 / 1000.0,
                    tracks.len(),
                    tracks.join("; ")
                )
            }
        }
    }
}

/// What a recording is made of before it starts: its owners, its encryptor and header, its id
/// and its files.
struct Plan {
    place: Place,
    limit: Option<Duration>,
    format: ReportFormat,
    fingerprints: Vec<String>,
    encryptor: RecordingEncryptor,
    header: Vec<u8>,
    id: String,
    files: TempFiles,
}

impl Plan {
    fn new(args: &RecordArgs) -> anyhow::Result<Self> {
        anyhow::ensure!(
            args.out.is_dir(),
            "--out {}: not a directory",
            args.out.display()
        );
        let owners = args
            .owners
            .iter()
            .map(|text| {
                RecordingOwnerPublic::parse(text).map_err(|e| anyhow!("--owner {text}: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (encryptor, header) = RecordingEncryptor::new(&owners)?;
        let id = hex::encode(encryptor.recording_id());
        Ok(Self {
            place: Place::from_link(&args.link)?,
            limit: super::duration(args.duration)?,
            format: args.report.unwrap_or(ReportFormat::Text),
            fingerprints: owners.iter().map(|o| o.fingerprint()).collect(),
            files: TempFiles::new(&args.out, &id),
            encryptor,
            header,
            id,
        })
    }
}

/// Runs `sealroom record`: joins, records, writes `<id>.srr`, uploads it to the server's
/// recording store while still in the meeting (the store takes uploads only from members),
/// then leaves.
pub async fn run_record(args: RecordArgs) -> anyhow::Result<()> {
    let plan = Plan::new(&args)?;
    let client = RoomClient::join(JoinOptions {
        server: plan.place.server.clone(),
        room: plan.place.room.clone(),
        display_name: args.name.clone(),
        publish: None,
        bind_ip: args.bind_ip,
        password: args.password.clone(),
        moderator_key: None,
        ca_file: args.ca_file.clone(),
        reconnect: true,
        session_token: None,
        link: plan.place.link.clone(),
        device_key: args.device_key.clone(),
    })
    .await?;
    let outcome = record_and_store(&client, &args.name, plan).await;
    client.leave().await;
    outcome
}

async fn record_and_store(client: &RoomClient, name: &str, plan: Plan) -> anyhow::Result<()> {
    let mut frames = client.tap_frames();
    enter_group(client).await?;
    let errors_before = client.status().server_error_codes.len();
    client
        .start_recording(&plan.id, plan.fingerprints.clone())
        .await
        .map_err(|e| anyhow!("the group was not told of the recording: {e}"))?;
    let start = Instant::now();
    let (id, fingerprints) = (plan.id.as_str(), &plan.fingerprints);
    Line::RecordingStarted {
        id,
        owners: fingerprints,
        name,
    }
    .print(plan.format);
    let files = &plan.files;
    let recorded = record(client, &mut frames, start, plan.limit, errors_before, files).await;
    if let Err(e) = client.stop_recording().await {
        tracing::warn!(error = %e, "the group was not told that the recording stopped");
    }
    let duration = start.elapsed();
    let (recorder, reader) = recorded?;
    let tracks = track_lines(recorder.tracks(), &client.status());
    let size = {
        let (tracks, files) = (recorder.tracks().to_vec(), files.clone());
        let (encryptor, header) = (plan.encryptor, plan.header);
        tokio::task::spawn_blocking(move || {
            write_recording(&files, &tracks, reader, encryptor, &header)
        })
        .await
        .context("the muxing task")??
    };
    files.remove_temporary();
    let path = files.srr.display().to_string();
    crate::files::upload_recording(client, &files.srr)
        .await
        .map_err(|e| anyhow!("{path} was written, but not stored on the server: {e}"))?;
    Line::RecordingWritten {
        id,
        path,
        size,
        duration_ms: duration.as_millis() as u64,
        tracks,
        dropped: recorder.dropped(),
    }
    .print(plan.format);
    Ok(())
}

/// Waits until we are a member of the encrypted group.
async fn enter_group(client: &RoomClient) -> anyhow::Result<()> {
    let status = client
        .wait_until(GROUP_PATIENCE, |s| {
            s.epoch.is_some() || s.removed_by_moderator.is_some()
        })
        .await
        .unwrap_or_else(|status| status);
    if status.epoch.is_some() {
        return Ok(());
    }
    let why = status.server_errors.last().map(|e| format!(": {e}"));
    anyhow::bail!(
        "not in the encrypted group after {} s{}",
        GROUP_PATIENCE.as_secs(),
        why.unwrap_or_default()
    )
}

/// The recording's tracks as reported, each named from the roster.
fn track_lines(tracks: &[Track], status: &Status) -> Vec<TrackLine> {
    let names = names(status);
    tracks
        .iter()
        .map(|track| TrackLine {
            participant: names
                .get(&track.sender)
                .cloned()
                .unwrap_or_else(|| format!("leaf {}", track.sender)),
            kind: track.kind,
            track: track.clone(),
        })
        .collect()
}

/// Records until told to stop, the session ends, or the server refuses our notice: the
/// recorder's state and the spool's reader, once every frame is in the spool.
async fn record(
    client: &RoomClient,
    frames: &mut tokio::sync::mpsc::UnboundedReceiver<ReceivedFrame>,
    start: Instant,
    limit: Option<Duration>,
    errors_before: usize,
    files: &TempFiles,
) -> anyhow::Result<(Recorder, SpoolReader)> {
    let (mut writer, reader) = spool()?;
    let mut spool_file = BufWriter::new(create_private(&files.spool)?);
    let mut recorder = Recorder::new(start);
    let append = |bytes: Vec<u8>, file: &mut BufWriter<File>| {
        file.write_all(&bytes)
            .with_context(|| files.spool.display().to_string())
    };
    let stop = super::stop_after(limit);
    tokio::pin!(stop);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut check = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = terminate.recv() => break,
            frame = frames.recv() => {
                let Some(frame) = frame else { break };
                let Some(frame) = to_frame(frame) else { continue };
                for timed in recorder.push(frame) {
                    append(writer.write(&timed)?, &mut spool_file)?;
                }
            }
            _ = check.tick() => {
                let status = client.status();
                if refused_recording(&status, errors_before) {
                    anyhow::bail!(
                        "the server refused the recording notice (the room does not let us record): {}",
                        status.server_errors.last().map(String::as_str).unwrap_or_default()
                    );
                }
                if status.removed_by_moderator.is_some() || status.removed {
                    eprintln!("we are no longer in the meeting: the recording stops");
                    break;
                }
            }
        }
    }
    for timed in recorder.finish() {
        append(writer.write(&timed)?, &mut spool_file)?;
    }
    append(writer.finish()?, &mut spool_file)?;
    spool_file
        .into_inner()
        .map_err(|e| anyhow!("{}: {}", files.spool.display(), e.error()))?
        .sync_all()?;
    Ok((recorder, reader))
}

/// Whether the server refused one of our messages as forbidden since the notice went out.
fn refused_recording(status: &Status, errors_before: usize) -> bool {
    status
        .server_error_codes
        .iter()
        .skip(errors_before)
        .any(|code| *code == ErrorCode::Forbidden)
}

/// The recorder's view of a received frame (VP8 and Opus are all Sealroom sends).
fn to_frame(frame: ReceivedFrame) -> Option<Frame> {
    let kind = match frame.kind {
        MediaKind::Video => Kind::Video,
        MediaKind::Audio => Kind::Audio,
    };
    Some(Frame {
        sender: frame.sender,
        kind,
        rtp_time: frame.rtp_time,
        clock_rate: frame.clock_rate,
        arrived: frame.arrived,
        payload: frame.payload,
    })
}

/// Everyone ever seen at a leaf, by leaf.
fn names(status: &Status) -> BTreeMap<u32, String> {
    status.names_by_leaf.clone()
}

/// Muxes the spool into the temporary WebM, then encrypts that into `<id>.srr` (through
/// `<id>.srr.part`, renamed once whole): its size.
fn write_recording(
    files: &TempFiles,
    tracks: &[Track],
    reader: SpoolReader,
    encryptor: RecordingEncryptor,
    header: &[u8],
) -> anyhow::Result<u64> {
    let webm = create_private(&files.webm)?;
    let mut writer = WebmWriter::new(webm, tracks)?;
    let spool = BufReader::new(File::open(&files.spool)?);
    reader.read_all(spool, |frame| writer.add(&frame))?;
    writer.finish()?.sync_all()?;

    let part = files.srr.with_extension("srr.part");
    let mut out = BufWriter::new(create_private(&part)?);
    let sealed = seal(
        File::open(&files.webm)?,
        encryptor,
        header,
        &mut |ciphertext: &[u8]| out.write_all(ciphertext),
    );
    let done = sealed
        .and_then(|()| out.into_inner().map_err(|e| e.into_error()))
        .and_then(|file| file.sync_all());
    if let Err(e) = done {
        let _ = fs::remove_file(&part);
        return Err(anyhow!("{}: {e}", part.display()));
    }
    fs::rename(&part, &files.srr)?;
    Ok(fs::metadata(&files.srr)?.len())
}

/// Encrypts the WebM in `webm` to the owners, handing the ciphertext to `sink` as it is
/// produced, the header first: the one place the recording's ciphertext goes out, where an
/// upload to the server's recording store can be added beside (or instead of) the file.
pub fn seal(
    mut webm: impl Read,
    mut encryptor: RecordingEncryptor,
    header: &[u8],
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let crypto = |e: sealroom_e2ee::RecordingError| std::io::Error::other(e.to_string());
    sink(header)?;
    let mut buf = vec![0; SEAL_READ_BYTES];
    loop {
        let n = webm.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let ciphertext = encryptor.update(&buf[..n]).map_err(crypto)?;
        if !ciphertext.is_empty() {
            sink(&ciphertext)?;
        }
    }
    sink(&encryptor.finish().map_err(crypto)?)
}

/// The recording's files in the output directory.
#[derive(Clone)]
struct TempFiles {
    /// The sealed spool, while recording.
    spool: PathBuf,
    /// The WebM in the clear, while muxing and encrypting.
    webm: PathBuf,
    /// The result.
    srr: PathBuf,
}

impl TempFiles {
    fn new(dir: &Path, id: &str) -> Self {
        Self {
            spool: dir.join(format!(".{id}.spool")),
            webm: dir.join(format!(".{id}.webm")),
            srr: dir.join(format!("{id}.srr")),
        }
    }

    /// Removes the spool and the temporary WebM, if they are there.
    fn remove_temporary(&self) {
        for path in [&self.spool, &self.webm] {
            let _ = fs::remove_file(path);
        }
    }
}

impl Drop for TempFiles {
    /// Whatever way the recorder ends (an error, a panic), no temporary file stays: the drop of
    /// the last copy removes them (the copy the muxing task took is dropped before).
    fn drop(&mut self) {
        self.remove_temporary();
    }
}

/// A new file only its owner can read and write.
fn create_private(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_for_people_and_as_json() {
        let owners = ["ab12".to_owned()];
        let started = Line::RecordingStarted {
            id: "00ff",
            owners: &owners,
            name: "Recorder",
        };
        assert_eq!(
            started.text(),
            "recording 00ff as Recorder, for the owners ab12"
        );
        assert_eq!(
            serde_json::to_value(&started).unwrap(),
            serde_json::json!({"type": "recording_started", "id": "00ff", "owners": ["ab12"],
                "name": "Recorder"})
        );
    }
}
