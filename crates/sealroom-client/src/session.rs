//! A participant in a room: the signalling connection, the meeting's MLS side (the shared
//! sans-IO [`Participant`] core, which the browser runs too), and the media engine, tied
//! together. The core lives in one task (the signalling loop); the media engine only sees the
//! SFrame keyring, which the loop refreshes on every epoch the core announces.

use std::{
    collections::{BTreeMap, VecDeque},
    net::IpAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use futures_util::{SinkExt, StreamExt};
use sealroom_e2ee::{
    DeviceIdentity, GroupError, LinkSecret, OrgKey, RosterMember, sframe::MediaKeyring,
};
use sealroom_participant::{ActiveRecording, Epoch, Notice, Output, Participant};
use sealroom_protocol::{
    ApplicationKind, Bytes, ClientMessage, ErrorCode, FileOffer, GroupAction, ParticipantId,
    ParticipantInfo, Permissions, RemovalReason, Role, ServerMessage, decode_numbered, encode,
    encode_numbered,
};
use serde::Serialize;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_tungstenite::tungstenite::Message;

use crate::media::{
    FrameTap, Media, MediaConfig, MediaError, MediaStats, ReceivedFrame, SyntheticMedia,
};
use crate::org_identity::OrgSetup;

/// How long a leaving client waits for the server to close the connection after its goodbye.
const GOODBYE_GRACE: Duration = Duration::from_secs(1);

pub use sealroom_participant::{ChatEntry, FileEntry, MEDIA_SUITE, ReceivedApplication};

/// How to join.
#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// Server base URL, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// Room name.
    pub room: String,
    /// Display name (also the MLS credential name).
    pub display_name: String,
    /// What to publish; `None` receives only.
    pub publish: Option<SyntheticMedia>,
    /// Local address for media.
    pub bind_ip: IpAddr,
    /// The room's password, if it has one (a join with a password never creates a room).
    pub password: Option<String>,
    /// The room's moderator key: join as a moderator, past the lock, password and lobby.
    pub moderator_key: Option<String>,
    /// For an `https://` server: trust only the certificates in this PEM file (a self-signed
    /// server's own certificate) instead of the public web roots.
    pub ca_file: Option<PathBuf>,
    /// When the signalling connection drops (the server restarted, the network went away),
    /// join again on our own — a new MLS member with fresh media — until it works. Not after a
    /// moderator removed us, nor after [`RoomClient::leave`].
    pub reconnect: bool,
    /// A session token from [`crate::account::sign_in`]: join as that account, not as a
    /// guest.
    pub session_token: Option<String>,
    /// The secret of the room link we came with (its `#k=` part): members then add us without
    /// a moderator, and we join only that link's group. `None`: we typed the room's name.
    pub link: Option<String>,
    /// A file that keeps this device's signature key (made there on first use, mode 0600), so
    /// that its fingerprint is the same in every meeting. `None`: a new key for this join.
    pub device_key: Option<PathBuf>,
}

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The server URL is not http(s)://host[:port].
    #[error("invalid server URL {0:?}: expected http://host:port or https://host:port")]
    InvalidServerUrl(String),
    /// The WebSocket failed.
    #[error("signalling connection: {0}")]
    Connection(#[from] tokio_tungstenite::tungstenite::Error),
    /// The CA file could not be used.
    #[error("TLS trust: {0}")]
    Tls(String),
    /// The session token cannot go in a header.
    #[error("the session token has characters a header cannot carry")]
    InvalidSessionToken,
    /// The server refused us.
    #[error("server error {code:?}: {message}")]
    Refused {
        /// Code.
        code: ErrorCode,
        /// Detail.
        message: String,
        /// With [`ErrorCode::RateLimited`]: when to try again.
        retry_after: Option<Duration>,
    },
    /// MLS failed.
    #[error("MLS: {0}")]
    Group(#[from] GroupError),
    /// The media engine failed.
    #[error("media: {0}")]
    Media(String),
    /// The device key file could not be used.
    #[error("device key file {0}")]
    DeviceKey(String),
    /// The organisation's binding could not go in our leaf.
    #[error("organisation identity: {0}")]
    OrgIdentity(String),
}

/// What the client knows, for reports and tests.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    /// Our id at the server.
    pub participant_id: Option<ParticipantId>,
    /// Our MLS leaf index.
    pub leaf_index: Option<u32>,
    /// Current MLS epoch.
    pub epoch: Option<u64>,
    /// The security code's digits for the current epoch.
    pub security_code: Option<String>,
    /// The security code's words.
    pub security_words: Option<Vec<String>>,
    /// The MLS roster (the truth, whatever the server says).
    pub roster: Vec<RosterEntry>,
    /// Everyone ever seen at a leaf, so frames from a member who left still get a name.
    #[serde(skip)]
    pub names_by_leaf: BTreeMap<u32, String>,
    /// Who the server claims is in the room.
    pub server_participants: Vec<String>,
    /// The same, with ids (to name someone in a moderation message) and roles.
    pub participants: Vec<ParticipantInfo>,
    /// Our role in the room, as the server says.
    pub role: Role,
    /// The room refuses new joiners.
    pub room_locked: bool,
    /// The room wants a password from joiners.
    pub room_password_required: bool,
    /// The room has a lobby: only a moderator's client adds members.
    pub room_lobby: bool,
    /// What each role may do in the room.
    pub permissions: Permissions,
    /// Nobody joins while no moderator is in the meeting.
    pub room_wait_for_moderator: bool,
    /// We wait in the lobby to be admitted, or for a moderator to arrive.
    pub in_lobby: bool,
    /// While `in_lobby`: we wait for a moderator to arrive (not for admission).
    pub waiting_for_moderator: bool,
    /// Moderators: the room's moderator key (a host link's secret).
    pub moderator_key: Option<String>,
    /// The room link's secret, when it is not the one we came with: our client made it as we
    /// founded the group without one, or a moderator replaced the link. For the user to share
    /// (`/<room>#k=<secret>`).
    pub new_link: Option<String>,
    /// Moderators: who waits in the lobby.
    pub lobby: Vec<ParticipantInfo>,
    /// A moderator muted us (the SFU forwards none of our audio until we unmute).
    pub muted_by_moderator: bool,
    /// Application messages received, in order.
    pub received: Vec<ReceivedApplication>,
    /// Set when a moderator removed us.
    pub removed_by_moderator: Option<RemovalReason>,
    /// True once a commit removed us from the group.
    pub removed: bool,
    /// Commits of ours the delivery service refused (we then rebased).
    pub commits_rejected: u64,
    /// Commits of ours it accepted.
    pub commits_accepted: u64,
    /// Epoch changes seen, with when they happened (since joining).
    pub epoch_changes: Vec<EpochEvent>,
    /// Errors the server sent us.
    pub server_errors: Vec<String>,
    /// Their codes, in the same order.
    pub server_error_codes: Vec<ErrorCode>,
    /// Non-fatal problems on our side.
    pub local_errors: Vec<String>,
    /// Times the connection dropped and we joined again as a new member, with when each rejoin
    /// was accepted (since connecting first).
    pub rejoined_at_ms: Vec<u64>,
    /// Times the connection dropped and we resumed the session (same participant, same MLS
    /// leaf), with when.
    pub resumed_at_ms: Vec<u64>,
    /// What the user must know about the group's security: a device the server wanted added
    /// that nobody admitted, a member added without admission.
    pub warnings: Vec<String>,
    /// The server presented another organisation key than the one pinned for it: members
    /// are still checked against the pinned one.
    pub org_key_changed: Option<OrgKeyChange>,
    /// Every member the encrypted group gained or lost, as announced to the user.
    pub notices: Vec<String>,
    /// Members of the encrypted group whom the server does not list: flagged as ghosts.
    pub unlisted_members: Vec<RosterEntry>,
    /// The recordings of the meeting under way, from the recorders' notices in the group.
    pub recordings: Vec<ActiveRecording>,
}

impl Status {
    /// The role the server lists for the participant with this device key, if it lists one.
    pub fn role_of(&self, fingerprint: &str) -> Option<Role> {
        self.participants
            .iter()
            .find(|p| p.fingerprint.as_deref() == Some(fingerprint))
            .map(|p| p.role)
    }
}

/// The organisation key a server presents, when it is not the one pinned: fingerprints.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OrgKeyChange {
    /// The key pinned on first contact.
    pub pinned: String,
    /// The key presented now.
    pub presented: String,
}

/// One member of the roster as reported.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RosterEntry {
    /// Leaf index.
    pub leaf: u32,
    /// Credential name.
    pub name: String,
    /// Signature-key fingerprint.
    pub fingerprint: String,
    /// The account the pinned organisation key vouches for in the member's leaf: the only
    /// account to show for it.
    pub account: Option<String>,
    /// The leaf's organisation binding: `none`, `verified`, or why it was refused (a warning).
    pub org_binding: &'static str,
}

/// What the chat brings, in the order it comes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEvent {
    /// We entered the encrypted group, or its members changed: who is in it now.
    Members(Vec<RosterEntry>),
    /// A message from another member (ours are not echoed back).
    Message(ChatEntry),
    /// Messages of the room's history this device cannot decrypt: sent before it was a member.
    Unreadable(u64),
    /// A file another member shared: where its ciphertext is, and the key that opens it.
    File(FileEntry),
    /// A message of ours that did not go out.
    NotSent {
        /// Its text.
        text: String,
        /// Why.
        error: String,
    },
}

/// An epoch change, for measuring rekey times.
#[derive(Clone, Debug, Serialize)]
pub struct EpochEvent {
    /// The new epoch.
    pub epoch: u64,
    /// Time since connecting.
    pub at_ms: u64,
    /// Names added.
    pub added: Vec<String>,
    /// Names removed.
    pub removed: Vec<String>,
    /// The security code of the new epoch.
    pub security_code: Option<String>,
}

enum Command {
    SelfUpdate,
    /// Admit from the lobby: our client alone then commits the participant's Add.
    Admit(ParticipantId),
    /// Turn the lobby on or off, on the server and in the group's policy.
    SetLobby(bool),
    /// Encrypt and send an application message.
    Application(ApplicationKind, Vec<u8>),
    /// Send a chat message, to everyone or to one member.
    Chat {
        text: String,
        to: Option<RosterEntry>,
    },
    /// Offer a file already uploaded; the result goes back.
    FileOffer(FileOffer, oneshot::Sender<Result<(), String>>),
    /// A message to pass on as it is (moderation).
    Send(ClientMessage),
    /// Tell the group we record (`Some(id, owners' fingerprints)`) or stopped (`None`); the
    /// core's result goes back.
    Recording(
        Option<(String, Vec<String>)>,
        oneshot::Sender<Result<(), String>>,
    ),
    Leave,
}

/// What the server's blob store takes: its address and our current blob token (no `Debug`:
/// the token is a secret).
#[derive(Clone)]
pub struct BlobAccess {
    /// Server base URL.
    pub server: String,
    /// For an `https://` server: the certificates to trust, as in [`JoinOptions::ca_file`].
    pub ca_file: Option<PathBuf>,
    /// The token of the current session, once the server gave it (anew after a reconnect).
    token: Arc<Mutex<Option<String>>>,
}

impl BlobAccess {
    /// The current blob token, if the server gave one yet.
    pub fn token(&self) -> Option<String> {
        self.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_token(&self, token: String) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
    }
}

/// A joined participant.
pub struct RoomClient {
    status: Arc<Mutex<Status>>,
    keys: Arc<Mutex<MediaKeyring>>,
    media: Arc<tokio::sync::Mutex<Option<Media>>>,
    commands: mpsc::UnboundedSender<Command>,
    chat: Option<mpsc::UnboundedReceiver<ChatEvent>>,
    blob_access: BlobAccess,
    task: JoinHandle<()>,
    started: Instant,
    frame_tap: FrameTap,
}

impl RoomClient {
    /// Connects, joins the room and starts media; returns once the server accepted the join
    /// (the MLS group and media come up in the background: watch [`RoomClient::status`]).
    pub async fn join(options: JoinOptions) -> Result<Self, SessionError> {
        let started = Instant::now();
        let (mut sink, stream, joined) = connect(&options).await?;
        let keys = Arc::new(Mutex::new(MediaKeyring::new(MEDIA_SUITE)));
        let media = Arc::new(tokio::sync::Mutex::new(None));
        let identity = match &options.device_key {
            Some(path) => crate::device_key::load_or_create(path, &options.display_name)?,
            None => DeviceIdentity::generate(&options.display_name)?,
        };
        let org = OrgSetup::prepare(&options, &identity).await;
        let status = Arc::new(Mutex::new(Status {
            warnings: org.problems.clone(),
            ..Status::default()
        }));
        let (commands, mut command_rx) = mpsc::unbounded_channel();
        let (chat_events, chat) = mpsc::unbounded_channel();
        let blob_access = BlobAccess {
            server: options.server.clone(),
            ca_file: options.ca_file.clone(),
            token: Arc::default(),
        };
        let frame_tap = FrameTap::default();
        let mut state = Signalling {
            core: participant(&identity, &options, &org)?,
            identity,
            org,
            keys: keys.clone(),
            status: status.clone(),
            media: media.clone(),
            started,
            session: None,
            last_seq: 0,
            sent: SentLog::default(),
            held_offer: None,
            chat_events,
            blob_access: blob_access.clone(),
            frame_tap: frame_tap.clone(),
        };
        for message in state.enter(&options, joined).await? {
            sink.send(state.sent.frame(message)).await?;
        }
        let task = tokio::spawn(async move {
            state
                .supervise(options, sink, stream, &mut command_rx)
                .await;
        });
        Ok(Self {
            status,
            keys,
            media,
            commands,
            chat: Some(chat),
            blob_access,
            task,
            started,
            frame_tap,
        })
    }

    /// Every media frame received and decrypted from now on, as it is (`sealroom record`),
    /// through media engines a rejoin starts too; a second call takes over from the first.
    pub fn tap_frames(&self) -> mpsc::UnboundedReceiver<ReceivedFrame> {
        let (sender, frames) = mpsc::unbounded_channel();
        *self.frame_tap.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
        frames
    }

    /// Tells the group that we record `id`, encrypted to the keys whose fingerprints are
    /// `owners` (every member's client shows it); fails if we are not in the encrypted group.
    /// The server refuses it if the room does not let our role record: see
    /// [`Status::server_errors`].
    pub async fn start_recording(&self, id: &str, owners: Vec<String>) -> Result<(), String> {
        self.recording_command(Some((id.to_owned(), owners))).await
    }

    /// Tells the group that our recording stopped.
    pub async fn stop_recording(&self) -> Result<(), String> {
        self.recording_command(None).await
    }

    async fn recording_command(&self, what: Option<(String, Vec<String>)>) -> Result<(), String> {
        let (done, result) = oneshot::channel();
        let _ = self.commands.send(Command::Recording(what, done));
        result
            .await
            .unwrap_or_else(|_| Err("the session has ended".to_owned()))
    }

    /// A snapshot of what the client knows.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Media counters so far.
    pub async fn media_stats(&self) -> Option<MediaStats> {
        self.media.lock().await.as_ref().map(Media::stats)
    }

    /// The device's network changed (Wi-Fi to mobile): media moves to a new socket on
    /// `bind_ip` and restarts ICE through the server, keeping the peer connection, the MLS
    /// membership and the keys.
    pub async fn change_network(&self, bind_ip: std::net::IpAddr) -> Result<(), SessionError> {
        let offer = match self.media.lock().await.as_ref() {
            Some(media) => media.restart_ice(bind_ip).await,
            None => return Err(SessionError::Media("no media to move".into())),
        }
        .map_err(|e| SessionError::Media(e.to_string()))?;
        self.send(ClientMessage::SdpOffer { sdp: offer });
        Ok(())
    }

    /// The SFrame keyring, for tests that replay captured frames against it.
    pub fn media_keys(&self) -> Arc<Mutex<MediaKeyring>> {
        self.keys.clone()
    }

    /// When the client started connecting.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Commits an MLS self-update (post-compromise security); retried on the new epoch if
    /// another commit wins.
    pub fn self_update(&self) {
        let _ = self.commands.send(Command::SelfUpdate);
    }

    /// Moderators: refuse new joiners until [`RoomClient::unlock`].
    pub fn lock(&self) {
        self.send(ClientMessage::Lock);
    }

    /// Moderators: let new joiners in again.
    pub fn unlock(&self) {
        self.send(ClientMessage::Unlock);
    }

    /// Moderators: set the room's password (the server checks it against its policy), or
    /// remove it with `None`.
    pub fn set_password(&self, password: Option<String>) {
        self.send(ClientMessage::SetPassword { password });
    }

    /// Moderators: remove a participant (by its id in [`Status::participants`]) from the group
    /// and the media.
    pub fn kick(&self, participant_id: &str) {
        self.send(ClientMessage::Kick {
            participant_id: participant_id.to_owned(),
        });
    }

    /// Moderators: kick and refuse the participant's device for the room's life.
    pub fn ban(&self, participant_id: &str) {
        self.send(ClientMessage::Ban {
            participant_id: participant_id.to_owned(),
        });
    }

    /// Moderators: make another participant a moderator.
    pub fn grant_moderator(&self, participant_id: &str) {
        self.send(ClientMessage::GrantModerator {
            participant_id: participant_id.to_owned(),
        });
    }

    /// Moderators: turn the lobby on or off (off lets everyone waiting in). If we moderate the
    /// room link's group, our client also commits the change to the group's policy.
    pub fn set_lobby(&self, enabled: bool) {
        let _ = self.commands.send(Command::SetLobby(enabled));
    }

    /// Moderators: let a participant in from the lobby (by its id in [`Status::lobby`], once
    /// its key fingerprint shows there). Our client commits its Add, and will add no other
    /// device for it.
    pub fn admit(&self, participant_id: &str) {
        let _ = self
            .commands
            .send(Command::Admit(participant_id.to_owned()));
    }

    /// Moderators: turn a participant in the lobby away.
    pub fn deny(&self, participant_id: &str) {
        self.send(ClientMessage::Deny {
            participant_id: participant_id.to_owned(),
        });
    }

    /// Moderators: stop the SFU forwarding a participant's audio until it unmutes itself.
    pub fn mute(&self, participant_id: &str) {
        self.send(ClientMessage::Mute {
            participant_id: participant_id.to_owned(),
        });
    }

    /// Lifts a moderator's mute of ourselves.
    pub fn unmute(&self) {
        self.send(ClientMessage::Unmute);
    }

    /// Moderators: set what each role may do.
    pub fn set_permissions(&self, permissions: Permissions) {
        self.send(ClientMessage::SetPermissions { permissions });
    }

    /// Moderators: let nobody join while no moderator is in the meeting (and hand moderation
    /// to nobody when the last moderator leaves), or not.
    pub fn set_wait_for_moderator(&self, enabled: bool) {
        self.send(ClientMessage::SetWaitForModerator { enabled });
    }

    /// Moderators: end the meeting for everyone.
    pub fn end_meeting(&self) {
        self.send(ClientMessage::EndMeeting);
    }

    /// Sends `data` end-to-end encrypted to the group, marked as `kind` (the server refuses a
    /// kind our role may not send).
    pub fn send_application(&self, kind: ApplicationKind, data: &[u8]) {
        let _ = self
            .commands
            .send(Command::Application(kind, data.to_vec()));
    }

    /// Sends a chat message, end-to-end encrypted: to everyone, or to the member `to` alone
    /// (sealed to that member's key). It is not sent if `to` has left the group meanwhile (its
    /// leaf may hold someone else by then), nor while we are not a member: the chat says so
    /// ([`ChatEvent::NotSent`]).
    pub fn send_chat(&self, text: &str, to: Option<RosterEntry>) {
        let _ = self.commands.send(Command::Chat {
            text: text.to_owned(),
            to,
        });
    }

    /// Offers the group a file whose ciphertext is in the blob store
    /// ([`crate::files::send_file`] uploads it first); fails if we are not in the encrypted
    /// group or the offer is malformed.
    pub async fn send_file_offer(&self, offer: FileOffer) -> Result<(), String> {
        let (done, result) = oneshot::channel();
        let _ = self.commands.send(Command::FileOffer(offer, done));
        result
            .await
            .unwrap_or_else(|_| Err("the session has ended".to_owned()))
    }

    /// The server's blob store, for uploading and downloading files.
    pub fn blob_access(&self) -> BlobAccess {
        self.blob_access.clone()
    }

    /// The chat as it comes, from the join on (it waits here until taken, so nothing is
    /// lost); `None` after the first call. It ends when the session does: we left, a moderator removed
    /// us, or the connection dropped and we do not join again.
    pub fn take_chat(&mut self) -> Option<mpsc::UnboundedReceiver<ChatEvent>> {
        self.chat.take()
    }

    /// Sends any client message: for moderation, and for tests that play a participant
    /// crafting messages it has no right to send.
    pub fn send(&self, message: ClientMessage) {
        let _ = self.commands.send(Command::Send(message));
    }

    /// Waits until `condition` holds for the status, or `timeout` passes.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        condition: impl Fn(&Status) -> bool,
    ) -> Result<Status, Status> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status();
            if condition(&status) {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Says goodbye and stops media.
    pub async fn leave(self) -> Status {
        let _ = self.commands.send(Command::Leave);
        let status = self.status.clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
        if let Some(media) = self.media.lock().await.take() {
            media.stop().await;
        }
        status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops the connection without a goodbye, as a crashed client or a dead network would.
    pub async fn vanish(self) {
        self.task.abort();
        if let Some(media) = self.media.lock().await.take() {
            media.stop().await;
        }
    }
}

/// The signalling loop's state: the only owner of the MLS core.
struct Signalling {
    /// The meeting's MLS side, made anew for every fresh join.
    core: Participant,
    /// Our device's signing identity, the same across rejoins.
    identity: DeviceIdentity,
    /// The organisation key pinned and presented, and our binding, for every fresh core.
    org: OrgSetup,
    keys: Arc<Mutex<MediaKeyring>>,
    status: Arc<Mutex<Status>>,
    media: Arc<tokio::sync::Mutex<Option<Media>>>,
    started: Instant,
    /// Our session at the server, once it gave the resume token.
    session: Option<Session>,
    /// The highest message number received in the session.
    last_seq: u64,
    /// What we sent in the session, numbered.
    sent: SentLog,
    /// Our media offer, held while we wait in the lobby.
    held_offer: Option<String>,
    /// The chat, for [`RoomClient::take_chat`].
    chat_events: mpsc::UnboundedSender<ChatEvent>,
    /// Where the blob token goes.
    blob_access: BlobAccess,
    /// Where every media engine we start hands its decrypted frames, if anywhere.
    frame_tap: FrameTap,
}

type WsSink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;
type WsStream = futures_util::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

/// Why the signalling loop stopped.
#[derive(PartialEq, Eq)]
enum Ended {
    /// We left (or the client was dropped).
    Left,
    /// The connection went away.
    Dropped,
}

/// What the server said when it let us in.
struct Joined {
    participant_id: ParticipantId,
    external_sender: Bytes,
    action: GroupAction,
    /// The number of the `joined` message in the session.
    seq: u64,
}

/// What resumes our session from a new connection.
struct Session {
    participant_id: ParticipantId,
    token: String,
}

/// A fresh MLS core for a join with these options.
fn participant(
    identity: &DeviceIdentity,
    options: &JoinOptions,
    org: &OrgSetup,
) -> Result<Participant, SessionError> {
    let link = options.link.as_deref().map(LinkSecret::parse).transpose()?;
    let mut core = Participant::new(identity.clone(), link);
    org.apply(&mut core).map_err(SessionError::OrgIdentity)?;
    Ok(core)
}

/// Opens the signalling WebSocket, signed in with the options' session token if there is one.
async fn open_socket(options: &JoinOptions) -> Result<(WsSink, WsStream), SessionError> {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http};
    let mut request = websocket_url(&options.server)?.into_client_request()?;
    if let Some(token) = &options.session_token {
        let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| SessionError::InvalidSessionToken)?;
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value);
    }
    let connector = options
        .ca_file
        .as_deref()
        .map(pinned_roots)
        .transpose()?
        .map(|config| tokio_tungstenite::Connector::Rustls(Arc::new(config)));
    // disable_nagle: a small signalling message goes out at once, not after the server's ACK.
    let (socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector).await?;
    Ok(socket.split())
}

/// Opens the signalling connection and joins: the server's answer, or its refusal.
async fn connect(options: &JoinOptions) -> Result<(WsSink, WsStream, Joined), SessionError> {
    let (mut sink, mut stream) = open_socket(options).await?;
    sink.send(text(&ClientMessage::Join {
        room: options.room.clone(),
        display_name: options.display_name.clone(),
        password: options.password.clone(),
        moderator_key: options.moderator_key.clone(),
        holds_link: options.link.is_some(),
        breakout_of: None,
    }))
    .await?;
    // The first answer decides: joined, or an error.
    loop {
        match next_server_message(&mut stream).await? {
            (
                seq,
                ServerMessage::Joined {
                    participant_id,
                    external_sender,
                    group,
                },
            ) => {
                let joined = Joined {
                    participant_id,
                    external_sender,
                    action: group,
                    seq: seq.unwrap_or(0),
                };
                return Ok((sink, stream, joined));
            }
            (
                _,
                ServerMessage::Error {
                    code,
                    message,
                    retry_after_ms,
                },
            ) => {
                return Err(refused(code, message, retry_after_ms));
            }
            _ => continue,
        }
    }
}

fn refused(code: ErrorCode, message: String, retry_after_ms: Option<u64>) -> SessionError {
    SessionError::Refused {
        code,
        message,
        retry_after: retry_after_ms.map(Duration::from_millis),
    }
}

/// Opens a new connection and asks to take up a session that dropped: the connection and the
/// number of our last message the server took, once it said `resumed` (the messages we missed
/// follow on it), or its refusal.
async fn resume(
    options: &JoinOptions,
    session: &Session,
    last_seq: u64,
) -> Result<(WsSink, WsStream, u64), SessionError> {
    let (mut sink, mut stream) = open_socket(options).await?;
    sink.send(text(&ClientMessage::Resume {
        participant_id: session.participant_id.clone(),
        resume_token: session.token.clone(),
        last_seq,
    }))
    .await?;
    loop {
        match next_server_message(&mut stream).await? {
            (
                _,
                ServerMessage::Resumed {
                    last_client_seq, ..
                },
            ) => return Ok((sink, stream, last_client_seq)),
            (
                _,
                ServerMessage::Error {
                    code,
                    message,
                    retry_after_ms,
                },
            ) => {
                return Err(refused(code, message, retry_after_ms));
            }
            _ => continue,
        }
    }
}

/// Longest wait between two attempts to join again.
const MAX_REJOIN_BACKOFF: Duration = Duration::from_secs(2);

/// How long to keep trying to resume while the server cannot be reached at all (it keeps a
/// dropped session 30 s by default; past that, a fresh join is the only way in).
const RESUME_PATIENCE: Duration = Duration::from_secs(60);

impl Signalling {
    /// Starts fresh in a room the server let us into: new media (its offer goes first) and,
    /// as the server says, a new group or a key package. Everything of an earlier connection
    /// (group, keys, roster) is gone with it.
    async fn enter(
        &mut self,
        options: &JoinOptions,
        joined: Joined,
    ) -> Result<Vec<ClientMessage>, SessionError> {
        if let Some(old) = self.media.lock().await.take() {
            old.stop().await;
        }
        *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = MediaKeyring::new(MEDIA_SUITE);
        self.core = participant(&self.identity, options, &self.org)?;
        self.session = None;
        self.last_seq = joined.seq;
        self.sent = SentLog::default();
        self.with_status(|s| {
            s.participant_id = Some(joined.participant_id.clone());
            s.epoch = None;
            s.leaf_index = None;
            s.security_code = None;
            s.security_words = None;
            s.roster.clear();
            s.removed = false;
        });
        let (media, offer) = Media::start_tapped(
            MediaConfig {
                bind_ip: options.bind_ip,
                publish: options.publish,
                suite: MEDIA_SUITE,
            },
            self.keys.clone(),
            self.started,
            self.frame_tap.clone(),
        )
        .await
        .map_err(|e| SessionError::Media(e.to_string()))?;
        *self.media.lock().await = Some(media);
        // The server takes media only from those in the meeting: someone waiting in the lobby
        // offers once it is let in (the room's settings are the first sign of that).
        let waiting = matches!(
            joined.action,
            GroupAction::WaitInLobby | GroupAction::WaitForModerator
        );
        let mut out = Vec::new();
        if waiting {
            self.held_offer = Some(offer);
        } else {
            out.push(ClientMessage::SdpOffer { sdp: offer });
        }
        self.on_joined(joined.action);
        self.core.handle_message(&ServerMessage::Joined {
            participant_id: joined.participant_id,
            external_sender: joined.external_sender,
            group: joined.action,
        });
        out.extend(self.drain_core());
        Ok(out)
    }

    /// Runs the connection; if it drops and `options.reconnect` is on, joins again (with a
    /// short backoff) until it works, a moderator removed us, or we left.
    async fn supervise(
        &mut self,
        options: JoinOptions,
        mut sink: WsSink,
        mut stream: WsStream,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) {
        loop {
            let ended = self.run(&mut sink, &mut stream, commands).await;
            let removed = self.with_status(|s| s.removed_by_moderator.is_some());
            if ended == Ended::Left || !options.reconnect || removed {
                return;
            }
            if let Some((new_sink, new_stream, taken)) = self.resume(&options).await {
                (sink, stream) = (new_sink, new_stream);
                // A failure here is the new connection dropping: `run` finds out.
                for frame in self.sent.after(taken) {
                    if sink.send(frame).await.is_err() {
                        break;
                    }
                }
                continue;
            }
            let mut backoff = Duration::from_millis(100);
            (sink, stream) = loop {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_REJOIN_BACKOFF);
                let (mut sink, stream, joined) = match connect(&options).await {
                    Ok(connected) => connected,
                    Err(error) => {
                        tracing::info!(%error, "rejoin failed; trying again");
                        continue;
                    }
                };
                let at_ms = self.started.elapsed().as_millis() as u64;
                self.with_status(|s| s.rejoined_at_ms.push(at_ms));
                let out = match self.enter(&options, joined).await {
                    Ok(out) => out,
                    Err(error) => {
                        self.note_local_error(format!("rejoin: {error}"));
                        continue;
                    }
                };
                let mut sent = true;
                for message in out {
                    sent &= sink.send(self.sent.frame(message)).await.is_ok();
                }
                if sent {
                    break (sink, stream);
                }
            };
        }
    }

    /// Takes up our session from a new connection, retrying while the server cannot be
    /// reached, for as long as the server keeps a session; `None` once it refuses (the session
    /// is gone: join afresh). With the connection comes the number of our last message the
    /// server took.
    async fn resume(&mut self, options: &JoinOptions) -> Option<(WsSink, WsStream, u64)> {
        let session = self.session.as_ref()?;
        let mut backoff = Duration::from_millis(100);
        let deadline = Instant::now() + RESUME_PATIENCE;
        while Instant::now() < deadline {
            match resume(options, session, self.last_seq).await {
                Ok(connection) => {
                    let at_ms = self.started.elapsed().as_millis() as u64;
                    self.with_status(|s| s.resumed_at_ms.push(at_ms));
                    return Some(connection);
                }
                Err(SessionError::Refused { code, .. }) => {
                    tracing::info!(?code, "session not resumed; joining again");
                    return None;
                }
                Err(error) => tracing::info!(%error, "resume failed; trying again"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_REJOIN_BACKOFF);
        }
        None
    }

    async fn run(
        &mut self,
        sink: &mut WsSink,
        stream: &mut WsStream,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Ended {
        loop {
            let out = tokio::select! {
                message = next_server_message(stream) => match message {
                    Ok((seq, message)) => {
                        self.last_seq = seq.unwrap_or(self.last_seq).max(self.last_seq);
                        self.on_message(message).await
                    }
                    Err(error) => {
                        self.note_local_error(format!("signalling closed: {error}"));
                        return Ended::Dropped;
                    }
                },
                command = commands.recv() => match command {
                    Some(Command::Leave) | None => {
                        let _ = sink.send(text(&ClientMessage::Leave)).await;
                        let _ = sink.close().await;
                        // Read on until the server closes: a socket dropped with unread
                        // messages is reset, and the reset can discard our goodbye at the
                        // server before it reads it (we would stay in the room, parked).
                        let _ = tokio::time::timeout(GOODBYE_GRACE, async {
                            while stream.next().await.is_some() {}
                        })
                        .await;
                        return Ended::Left;
                    }
                    Some(command) => self.on_command(command),
                },
            };
            for message in out {
                if sink.send(self.sent.frame(message)).await.is_err() {
                    return Ended::Dropped;
                }
            }
        }
    }

    /// What the native side shows of a join's group action (the core does the MLS part).
    fn on_joined(&self, action: GroupAction) {
        self.with_status(|s| {
            s.in_lobby = matches!(
                action,
                GroupAction::WaitInLobby | GroupAction::WaitForModerator
            );
            s.waiting_for_moderator = action == GroupAction::WaitForModerator;
        });
    }

    fn on_command(&mut self, command: Command) -> Vec<ClientMessage> {
        let done = match command {
            Command::SelfUpdate => {
                self.core.self_update();
                Ok(())
            }
            Command::Admit(participant_id) => self.core.admit(&participant_id),
            Command::SetLobby(enabled) => {
                self.core.set_lobby(enabled);
                Ok(())
            }
            Command::Application(kind, data) => self.core.send_application(kind, &data),
            Command::Chat { text, to } => {
                self.send_chat(text, to);
                Ok(())
            }
            Command::FileOffer(offer, done) => {
                let _ = done.send(self.core.send_file_offer(offer).map_err(|e| e.to_string()));
                Ok(())
            }
            Command::Send(message) => return vec![message],
            Command::Recording(what, done) => {
                let result = match what {
                    Some((id, owners)) => self.core.start_recording(&id, owners),
                    None => self.core.stop_recording(),
                };
                let _ = done.send(result.map_err(|e| e.to_string()));
                Ok(())
            }
            Command::Leave => unreachable!("the signalling loop leaves itself"),
        };
        if let Err(e) = done {
            self.note_local_error(e.to_string());
        }
        self.drain_core()
    }

    /// A server message: the core takes every one (its rules read the room's settings and
    /// lists too); media, lobby and moderation state are the native side's.
    async fn on_message(&mut self, message: ServerMessage) -> Vec<ClientMessage> {
        // Bindings in the epochs this message brings are checked against the time now.
        self.core.handle_time(unix_millis() / 1000);
        self.core.handle_message(&message);
        let mut out = self.on_message_natively(message).await;
        out.extend(self.drain_core());
        out
    }

    async fn on_message_natively(&mut self, message: ServerMessage) -> Vec<ClientMessage> {
        match message {
            ServerMessage::Joined { group, .. } => self.on_joined(group),
            ServerMessage::Welcome { .. } => self.with_status(|s| {
                s.in_lobby = false;
                s.waiting_for_moderator = false;
            }),
            ServerMessage::CommitAccepted { .. } => self.with_status(|s| s.commits_accepted += 1),
            ServerMessage::CommitRejected { .. } => self.with_status(|s| s.commits_rejected += 1),
            ServerMessage::Lobby { waiting } => self.with_status(|s| s.lobby = waiting),
            ServerMessage::Waiting { group } => self
                .with_status(|s| s.waiting_for_moderator = group == GroupAction::WaitForModerator),
            ServerMessage::ResumeToken { token, blob_token } => {
                self.blob_access.set_token(blob_token);
                if let Some(participant_id) = self.with_status(|s| s.participant_id.clone()) {
                    self.session = Some(Session {
                        participant_id,
                        token,
                    });
                }
            }
            ServerMessage::ModeratorKey { key } => {
                self.with_status(|s| s.moderator_key = Some(key))
            }
            ServerMessage::SdpAnswer { sdp } => self.accept_answer(&sdp).await,
            ServerMessage::SdpOffer { sdp } => return self.accept_offer(&sdp).await,
            ServerMessage::Participants { participants } => {
                self.with_status(|s| {
                    s.server_participants = participants
                        .iter()
                        .map(|p| p.display_name.clone())
                        .collect();
                    if let Some(me) = participants
                        .iter()
                        .find(|p| s.participant_id.as_ref() == Some(&p.id))
                    {
                        s.role = me.role;
                        s.muted_by_moderator = me.muted;
                    }
                    s.participants = participants;
                });
                self.flag_unlisted_members();
            }
            ServerMessage::RoomSettings {
                locked,
                password_required,
                lobby,
                permissions,
                wait_for_moderator,
            } => {
                self.with_status(|s| {
                    s.room_locked = locked;
                    s.room_password_required = password_required;
                    s.room_lobby = lobby;
                    s.permissions = permissions;
                    s.room_wait_for_moderator = wait_for_moderator;
                });
                // Only those in the meeting get its settings: we were let in.
                return self
                    .held_offer
                    .take()
                    .map(|sdp| ClientMessage::SdpOffer { sdp })
                    .into_iter()
                    .collect();
            }
            ServerMessage::Removed { reason } => {
                // The server closes the connection next; the group session ends with it.
                self.with_status(|s| s.removed_by_moderator = Some(reason))
            }
            ServerMessage::Error { code, message, .. } => self.with_status(|s| {
                s.server_errors.push(format!("{code:?}: {message}"));
                s.server_error_codes.push(code);
            }),
            // The core's alone; `Resumed` is only the first answer on a resumed connection
            // (`resume` reads it); str0m has no TURN client, so the native client reaches the
            // SFU directly and ignores `IceServers`.
            ServerMessage::Commit { .. }
            | ServerMessage::Proposal { .. }
            | ServerMessage::CommitRequested { .. }
            | ServerMessage::Application { .. }
            | ServerMessage::History { .. }
            | ServerMessage::Resumed { .. }
            | ServerMessage::IceServers { .. } => {}
        }
        Vec::new()
    }

    async fn accept_answer(&self, sdp: &str) {
        if let Some(media) = self.media.lock().await.as_ref()
            && let Err(e) = media.accept_answer(sdp).await
        {
            self.note_local_error(format!("sdp answer: {e}"));
        }
    }

    async fn accept_offer(&self, sdp: &str) -> Vec<ClientMessage> {
        let answer = match self.media.lock().await.as_ref() {
            Some(media) => media.accept_offer(sdp).await,
            None => return Vec::new(),
        };
        match answer {
            Ok(sdp) => vec![ClientMessage::SdpAnswer { sdp }],
            Err(MediaError::OffersCrossed) => Vec::new(),
            Err(e) => {
                self.note_local_error(format!("sdp offer: {e}"));
                Vec::new()
            }
        }
    }

    /// Carries out what the core asks for: messages to send (returned), keys to install, and
    /// what the status shows.
    fn drain_core(&mut self) -> Vec<ClientMessage> {
        let mut out = Vec::new();
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Send(message) => out.push(message),
                Output::Epoch(epoch) => {
                    if changes_members(&epoch) {
                        let members = epoch.roster.iter().map(roster_entry).collect();
                        self.show_chat(ChatEvent::Members(members));
                    }
                    self.install_epoch(*epoch);
                    self.flag_unlisted_members();
                }
                Output::Removed => {
                    self.with_status(|s| {
                        s.removed = true;
                        s.epoch = None;
                        s.security_code = None;
                        s.security_words = None;
                    });
                    self.flag_unlisted_members();
                }
                Output::RoomLink(secret) => self.with_status(|s| s.new_link = Some(secret)),
                Output::PinOrganisationKey(key) => {
                    if let Err(e) = self.org.pin(key) {
                        self.note_local_error(format!("organisation key pin: {e}"));
                    }
                }
                Output::OrganisationKeyChanged { pinned, presented } => {
                    self.org_key_changed(pinned, presented)
                }
                Output::Notice(notice) => {
                    self.with_status(|s| s.notices.push(notice_text(&notice)))
                }
                Output::Warning(text) => self.with_status(|s| s.warnings.push(text)),
                Output::Error(text) => self.note_local_error(text),
                Output::Application(received) => self.with_status(|s| s.received.push(received)),
                Output::Chat(entry) => self.show_chat(ChatEvent::Message(entry)),
                Output::ChatUnreadable(count) => self.show_chat(ChatEvent::Unreadable(count)),
                Output::File(entry) => self.show_chat(ChatEvent::File(entry)),
                Output::Recordings(recordings) => self.with_status(|s| s.recordings = recordings),
                // The command line has no hands, reactions, polls or breakout rooms to show.
                Output::Hands(_)
                | Output::Reaction(_)
                | Output::Poll(_)
                | Output::Breakouts(_)
                | Output::Breakout(_) => {}
            }
        }
        out
    }

    /// Our user's chat message, sent to `to` only if it is still at its leaf: the leaf of
    /// someone who left can hold another member by now.
    fn send_chat(&mut self, text: String, to: Option<RosterEntry>) {
        let sent = match to {
            Some(member) if !self.with_status(|s| s.roster.contains(&member)) => {
                Err(format!("{:?} is no longer in the meeting", member.name))
            }
            to => self
                .core
                .send_chat(&text, to.map(|m| m.leaf), unix_millis())
                .map_err(|e| e.to_string()),
        };
        if let Err(error) = sent {
            self.show_chat(ChatEvent::NotSent { text, error });
        }
    }

    fn show_chat(&self, event: ChatEvent) {
        // Fails only once the chat was taken and dropped: nobody is there to show it to.
        let _ = self.chat_events.send(event);
    }

    /// Members of the group whom the server does not list: what changes with the roster (a new
    /// epoch) and with the server's list.
    fn flag_unlisted_members(&self) {
        let unlisted: Vec<RosterEntry> = self
            .core
            .unlisted_members()
            .iter()
            .map(roster_entry)
            .collect();
        self.with_status(|s| s.unlisted_members = unlisted);
    }

    /// A new epoch: fresh media keys, a new security code, a new roster. The first epoch of a
    /// group we just created or joined goes into a new keyring (its epochs count afresh); an
    /// epoch that fails to install empties the keyring, so nothing goes out under an older key.
    fn install_epoch(&self, epoch: Epoch) {
        let now = self.started.elapsed();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if epoch.change.is_none() {
            *keys = MediaKeyring::new(MEDIA_SUITE);
        }
        let installed = keys.install_epoch(now, epoch.epoch, &epoch.media_secret, epoch.own_leaf);
        if let Err(e) = installed {
            *keys = MediaKeyring::new(MEDIA_SUITE);
            self.note_local_error(format!("media keys: {e}"));
        }
        drop(keys);
        let at_ms = now.as_millis() as u64;
        self.with_status(|s| {
            s.leaf_index = Some(epoch.own_leaf);
            s.epoch = Some(epoch.epoch);
            s.security_code = Some(epoch.security_code.digits());
            s.security_words = Some(epoch.security_code.words().map(str::to_owned).to_vec());
            for m in &epoch.roster {
                s.names_by_leaf
                    .insert(m.leaf_index, m.credential_name.clone());
            }
            s.roster = epoch.roster.iter().map(roster_entry).collect();
            let (added, removed) = epoch
                .change
                .map(|c| (names(&c.added), names(&c.removed)))
                .unwrap_or_default();
            s.epoch_changes.push(EpochEvent {
                epoch: epoch.epoch,
                at_ms,
                added,
                removed,
                security_code: s.security_code.clone(),
            });
        });
    }

    /// The server's organisation key is not the one pinned: warned, and kept in the report.
    fn org_key_changed(&self, pinned: OrgKey, presented: OrgKey) {
        let change = OrgKeyChange {
            pinned: pinned.fingerprint().to_string(),
            presented: presented.fingerprint().to_string(),
        };
        let text = format!(
            "The server presents another organisation key ({}) than the one pinned for it ({}). \
             Accounts are still checked against the pinned key.",
            change.presented, change.pinned
        );
        self.with_status(|s| {
            s.warnings.push(text);
            s.org_key_changed = Some(change);
        });
    }

    fn note_local_error(&self, error: String) {
        tracing::warn!(%error, "client");
        self.with_status(|s| s.local_errors.push(error));
    }

    fn with_status<T>(&self, f: impl FnOnce(&mut Status) -> T) -> T {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Whether an epoch is one the chat tells of: the group we entered, or members who came or went
/// (not a key update).
fn changes_members(epoch: &Epoch) -> bool {
    epoch
        .change
        .as_ref()
        .is_none_or(|c| !c.added.is_empty() || !c.removed.is_empty())
}

/// Now by our clock, in milliseconds since the Unix epoch.
pub(crate) fn unix_millis() -> u64 {
    SystemTime::UNIX_EPOCH
        .elapsed()
        .map_or(0, |since| since.as_millis() as u64)
}

fn roster_entry(member: &RosterMember) -> RosterEntry {
    RosterEntry {
        leaf: member.leaf_index,
        name: member.credential_name.clone(),
        fingerprint: member.fingerprint.to_string(),
        account: member.org_identity.account().map(str::to_owned),
        org_binding: member.org_identity.code(),
    }
}

/// How a notice reads to the user: the name, and the key a name cannot fake.
fn notice_text(notice: &Notice) -> String {
    let (member, what) = match notice {
        Notice::Joined(member) => (member, "joined"),
        Notice::Left(member) => (member, "left"),
    };
    format!(
        "{:?} {what} the encrypted meeting (key {})",
        member.credential_name, member.fingerprint
    )
}

fn names(members: &[RosterMember]) -> Vec<String> {
    members.iter().map(|m| m.credential_name.clone()).collect()
}

/// Messages we sent in the session, numbered, the last [`KEPT_SENT`] kept: the server says on
/// a resume which it took last, and the later ones go again (they may have died with the old
/// connection; the server ignores any it took after all).
#[derive(Default)]
struct SentLog {
    last: u64,
    kept: VecDeque<(u64, ClientMessage)>,
}

/// Our messages kept for sending again, as many as the server keeps of its own.
const KEPT_SENT: usize = 256;

impl SentLog {
    /// Numbers a message, keeps it, and frames it for the connection.
    fn frame(&mut self, message: ClientMessage) -> Message {
        self.last += 1;
        let frame = Message::Text(encode_numbered(self.last, &message).into());
        if self.kept.len() == KEPT_SENT {
            self.kept.pop_front();
        }
        self.kept.push_back((self.last, message));
        frame
    }

    /// The kept messages numbered after `taken`, framed again with their numbers.
    fn after(&self, taken: u64) -> Vec<Message> {
        self.kept
            .iter()
            .filter(|(seq, _)| *seq > taken)
            .map(|(seq, message)| Message::Text(encode_numbered(*seq, message).into()))
            .collect()
    }
}

fn text(message: &ClientMessage) -> Message {
    Message::Text(encode(message).into())
}

/// The next message from the server, with its sequence number if it is part of the session.
async fn next_server_message(
    stream: &mut WsStream,
) -> Result<(Option<u64>, ServerMessage), SessionError> {
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => match decode_numbered::<ServerMessage>(&text) {
                Ok(numbered) => return Ok(numbered),
                Err(error) => tracing::warn!(%error, "undecodable server message"),
            },
            Some(Ok(Message::Close(_))) | None => {
                return Err(SessionError::Connection(
                    tokio_tungstenite::tungstenite::Error::ConnectionClosed,
                ));
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
        }
    }
}

/// TLS that trusts only the certificates in `ca_file` (`--ca-file`: a server with its own
/// certificate); `sealroom verify-web` uses it too.
pub fn pinned_roots(ca_file: &Path) -> Result<rustls::ClientConfig, SessionError> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    let tls = |e: &dyn std::fmt::Display| SessionError::Tls(format!("{}: {e}", ca_file.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| tls(&e))? {
        roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    if roots.is_empty() {
        return Err(tls(&"no certificate in the file"));
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// `http://host:port` → `ws://host:port/ws` (and https → wss).
pub(crate) fn websocket_url(server: &str) -> Result<String, SessionError> {
    let server = server.trim_end_matches('/');
    let rest = server
        .strip_prefix("http://")
        .map(|rest| ("ws", rest))
        .or_else(|| server.strip_prefix("https://").map(|rest| ("wss", rest)));
    match rest {
        Some((scheme, host)) if !host.is_empty() && !host.contains('/') => {
            Ok(format!("{scheme}://{host}/ws"))
        }
        _ => Err(SessionError::InvalidServerUrl(server.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(frame: &Message) -> (Option<u64>, ClientMessage) {
        let Message::Text(text) = frame else {
            panic!("a text frame");
        };
        decode_numbered(text).expect("a client message")
    }

    #[test]
    fn sent_messages_are_numbered_and_those_not_taken_go_again_with_their_numbers() {
        let mut log = SentLog::default();
        let frames: Vec<Message> = [
            ClientMessage::Lock,
            ClientMessage::Unlock,
            ClientMessage::Lock,
        ]
        .into_iter()
        .map(|m| log.frame(m))
        .collect();
        let seqs: Vec<Option<u64>> = frames.iter().map(|f| numbered(f).0).collect();
        assert_eq!(seqs, [Some(1), Some(2), Some(3)]);
        let again: Vec<(Option<u64>, ClientMessage)> = log.after(1).iter().map(numbered).collect();
        assert_eq!(
            again,
            [
                (Some(2), ClientMessage::Unlock),
                (Some(3), ClientMessage::Lock)
            ]
        );
        for _ in 0..KEPT_SENT {
            log.frame(ClientMessage::Lock);
        }
        assert_eq!(log.after(0).len(), KEPT_SENT, "only the last ones are kept");
    }
}
