//! # sealroom-protocol
//!
//! The signalling messages that clients and the server exchange over the WebSocket at `/ws`, as
//! JSON text frames, and their versioning. Every message carries `"v"` (the protocol version) and
//! `"type"`. MLS messages travel as base64 of their RFC 9420 wire encoding; the server relays
//! them and checks the public ones, but nothing here carries a key.
//!
//! Decoding is strict and bounded: a message over [`MAX_MESSAGE_BYTES`], of another version, or
//! that does not parse gets a [`ProtocolError`] with a stable [`ErrorCode`] the peer is told.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod breakout;
mod bytes;
mod chat;
mod files;
mod interaction;
mod names;
mod recording;

use serde::{Deserialize, Serialize};

pub use breakout::{
    Assignment, BreakoutMessage, BreakoutPlan, BreakoutRoom, MAX_BREAKOUT_LABEL_CHARS,
    MAX_BREAKOUT_ROOMS, MAX_BROADCAST_CHARS,
};
pub use bytes::Bytes;
pub use chat::{ChatMessage, ChatText, KeptMessage, MAX_CHAT_TEXT_CHARS};
pub use files::{BLOB_ID_CHARS, FileOffer, MAX_FILE_NAME_CHARS, MAX_MIME_CHARS};
pub use interaction::{
    Ballot, Interaction, MAX_POLL_OPTION_CHARS, MAX_POLL_QUESTION_CHARS, POLL_OPTIONS, Poll,
    PollMessage, PollRef, PollResults, PublishedResults, REACTIONS, ResultsFor, SealedCopy,
};
pub use names::{DisplayName, MAX_DISPLAY_NAME_CHARS, MAX_ROOM_NAME_BYTES, RoomName};
pub use recording::{MAX_RECORDING_OWNERS, RECORDING_ID_CHARS, RecordingNotice};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest signalling message accepted, in bytes. A Welcome carrying the ratchet tree of a
/// 150-member room is about 40 KB; the limit leaves room for 1,000-member groups.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// A participant's id in a room, assigned by the server.
pub type ParticipantId = String;

/// Messages from a client to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Enter a room (created on first join). Must be the first message. The names are checked
    /// with [`RoomName::parse`] and [`DisplayName::parse`] by the server, which answers a bad one
    /// with its own error code.
    Join {
        /// The room.
        room: String,
        /// The name shown to others (also the MLS credential name).
        display_name: String,
        /// The room's password, if it has one. A join that supplies a password to a room that
        /// does not exist is refused exactly like a wrong password: rooms are created only by a
        /// join without one. Absent in older clients' messages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        /// The room's moderator key (see [`ServerMessage::ModeratorKey`]): enter as a
        /// moderator, past the lock, the password and the lobby. A wrong key, or a key for a
        /// room that does not exist, is refused with [`ErrorCode::AccessDenied`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        moderator_key: Option<String>,
        /// The joiner came with the room link: its key package proves it, so members add it
        /// without a moderator's admission (unless the room has a lobby). The server cannot
        /// check the claim and need not: a joiner without the link, once the room's group
        /// exists, waits in the lobby for a moderator, since no member would add it.
        #[serde(default)]
        holds_link: bool,
        /// Entering one of a room's breakout rooms (see [`ClientMessage::OpenBreakouts`]): the
        /// joiner's session in that room proves it is there. A breakout room admits nobody
        /// else; the ticket replaces the password, and a moderator of the room enters as one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        breakout_of: Option<BreakoutTicket>,
    },
    /// After [`ServerMessage::Joined`] with [`GroupAction::CreateGroup`]: the new group's
    /// GroupInfo (public state, with the ratchet tree), so the delivery service can follow it.
    GroupCreated {
        /// MLS GroupInfo message.
        group_info: Bytes,
    },
    /// After [`ServerMessage::Joined`] with [`GroupAction::AwaitWelcome`]: a key package for a
    /// member to add.
    KeyPackage {
        /// MLS KeyPackage message.
        key_package: Bytes,
    },
    /// A commit made on `epoch`, for the delivery service to sequence.
    Commit {
        /// The epoch the commit was made on.
        epoch: u64,
        /// MLS commit (PublicMessage).
        commit: Bytes,
        /// The Welcome for members the commit adds.
        welcome: Option<Bytes>,
    },
    /// An MLS application message (PrivateMessage) to relay to all members.
    Application {
        /// MLS PrivateMessage.
        message: Bytes,
    },
    /// Members only: the application messages the server keeps for the room (chat), numbered
    /// after `after`, answered with [`ServerMessage::History`].
    History {
        /// The highest number the client has (0: from the start).
        after: u64,
    },
    /// The client's SDP offer for its PeerConnection (sends its tracks).
    SdpOffer {
        /// SDP text.
        sdp: String,
    },
    /// The client's answer to a [`ServerMessage::SdpOffer`].
    SdpAnswer {
        /// SDP text.
        sdp: String,
    },
    /// Leave the room.
    Leave,
    /// Moderators only: set the room's password (checked against the server's policy), or
    /// remove it with `None`. It applies to later joins.
    SetPassword {
        /// The new password, or `None` for none.
        password: Option<String>,
    },
    /// Moderators only: refuse every new joiner until [`ClientMessage::Unlock`].
    Lock,
    /// Moderators only: let new joiners in again.
    Unlock,
    /// Moderators only: remove a participant from the MLS group and the SFU at once, and close
    /// its connection.
    Kick {
        /// Whom.
        participant_id: ParticipantId,
    },
    /// Moderators only: kick, and refuse the participant's device (its MLS signature key) for
    /// the rest of the room's life.
    Ban {
        /// Whom.
        participant_id: ParticipantId,
    },
    /// Moderators only: make another participant a moderator.
    GrantModerator {
        /// Whom.
        participant_id: ParticipantId,
    },
    /// Moderators only: turn the lobby on (later joiners wait until a moderator admits them)
    /// or off (it does not admit those already waiting).
    SetLobby {
        /// On or off.
        enabled: bool,
    },
    /// Moderators only: let a participant waiting in the lobby in. The server then asks this
    /// moderator's client, and only it, to commit the participant's MLS Add.
    Admit {
        /// Whom.
        participant_id: ParticipantId,
    },
    /// Moderators only: turn away a participant waiting in the lobby. A second denial of the
    /// same device in the room's life bans it.
    Deny {
        /// Whom.
        participant_id: ParticipantId,
    },
    /// Moderators only: the SFU stops forwarding the participant's audio until the
    /// participant unmutes itself with [`ClientMessage::Unmute`].
    Mute {
        /// Whom.
        participant_id: ParticipantId,
    },
    /// Lifts a moderator's [`ClientMessage::Mute`] of ourselves.
    Unmute,
    /// Moderators only: which roles may do what in the room.
    SetPermissions {
        /// The new permissions.
        permissions: Permissions,
    },
    /// Moderators only: end the meeting for everyone; the room vanishes.
    EndMeeting,
    /// Instead of `join`, as the first message of a new connection: take up the session of a
    /// connection that dropped, within the server's resume window — the same participant, the
    /// same MLS leaf — and get every message numbered after `last_seq` again. Answered with
    /// [`ServerMessage::Resumed`], or [`ErrorCode::ResumeFailed`] (then join afresh).
    Resume {
        /// The participant id the server gave.
        participant_id: ParticipantId,
        /// The token from [`ServerMessage::ResumeToken`].
        resume_token: String,
        /// The highest `seq` received on the old connection (0 if none).
        last_seq: u64,
    },
    /// Moderators only: with it on, nobody joins while no moderator is in the meeting — joiners
    /// wait until one comes (with the moderator key), and moderation is not handed to a
    /// participant when the last moderator leaves.
    SetWaitForModerator {
        /// On or off.
        enabled: bool,
    },
    /// Moderators only: these rooms (at most [`MAX_BREAKOUT_ROOMS`], none live yet unless
    /// already this room's) are this room's breakout rooms until [`ClientMessage::CloseBreakouts`]
    /// or the room's end: only its participants enter them, with a [`BreakoutTicket`], under its
    /// permissions. Replaces any earlier list.
    OpenBreakouts {
        /// The breakout rooms' names.
        rooms: Vec<String>,
    },
    /// Moderators only: the breakout rooms admit nobody more.
    CloseBreakouts,
}

/// A participant's proof, joining a breakout room, that it is in the room that opened it: its
/// session there, which only it knows the resume token of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakoutTicket {
    /// The room that opened the breakout room.
    pub room: String,
    /// Our participant id there.
    pub participant_id: ParticipantId,
    /// Our resume token there (see [`ServerMessage::ResumeToken`]).
    pub resume_token: String,
}

/// Which roles may do something.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allowed {
    /// Every participant, guests too.
    #[default]
    Everyone,
    /// Moderators and signed-in participants, not guests.
    Members,
    /// Moderators only.
    Moderators,
}

impl Allowed {
    /// Whether `role` may.
    pub fn permits(self, role: Role) -> bool {
        match self {
            Allowed::Everyone => true,
            Allowed::Members => role != Role::Guest,
            Allowed::Moderators => role == Role::Moderator,
        }
    }
}

/// What each role may do in a room. The server enforces each: a screen-share track or an
/// application message of a kind the sender's role may not send is refused with
/// [`ErrorCode::Forbidden`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Permissions {
    /// Share the screen (a publisher's second video track).
    pub screen_share: Allowed,
    /// Send chat messages ([`ApplicationKind::Chat`]).
    pub chat: Allowed,
    /// Send files ([`ApplicationKind::File`]).
    pub files: Allowed,
    /// Start a recording ([`ApplicationKind::Recording`]).
    pub recording: Allowed,
    /// Open polls ([`ApplicationKind::Poll`]); everyone may vote.
    #[serde(default)]
    pub polls: Allowed,
}

impl Permissions {
    /// Who may send an application message of `kind`.
    pub fn for_application(&self, kind: ApplicationKind) -> Allowed {
        match kind {
            ApplicationKind::Control | ApplicationKind::Interaction => Allowed::Everyone,
            ApplicationKind::Chat => self.chat,
            ApplicationKind::File => self.files,
            ApplicationKind::Recording => self.recording,
            ApplicationKind::Poll => self.polls,
            ApplicationKind::Breakout => Allowed::Moderators,
        }
    }
}

/// What an MLS application message carries. The sender binds the kind to the message as MLS
/// authenticated data: in the clear, so the server can enforce the room's [`Permissions`]
/// without reading the message, and authenticated, so a receiver gets exactly the kind the
/// server checked (a file sent labelled as chat is chat to every receiver).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationKind {
    /// Client-to-client state (presence, mute state); always allowed.
    Control,
    /// A chat message.
    Chat,
    /// A file offer (its key and where its ciphertext is).
    File,
    /// A recording notice.
    Recording,
    /// A raised hand, a reaction or a vote ([`Interaction`]); always allowed.
    Interaction,
    /// A poll's opening, results or end ([`PollMessage`]).
    Poll,
    /// Breakout rooms opened, a broadcast to them, or their end ([`BreakoutMessage`]);
    /// moderators only.
    Breakout,
}

impl ApplicationKind {
    const ALL: [ApplicationKind; 7] = [
        ApplicationKind::Control,
        ApplicationKind::Chat,
        ApplicationKind::File,
        ApplicationKind::Recording,
        ApplicationKind::Interaction,
        ApplicationKind::Poll,
        ApplicationKind::Breakout,
    ];

    /// The MLS authenticated data that marks a message of this kind.
    pub fn label(self) -> &'static [u8] {
        match self {
            ApplicationKind::Control => b"sealroom/control",
            ApplicationKind::Chat => b"sealroom/chat",
            ApplicationKind::File => b"sealroom/file",
            ApplicationKind::Recording => b"sealroom/recording",
            ApplicationKind::Interaction => b"sealroom/interaction",
            ApplicationKind::Poll => b"sealroom/poll",
            ApplicationKind::Breakout => b"sealroom/breakout",
        }
    }

    /// The kind a label marks, if any.
    pub fn from_label(label: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.label() == label)
    }
}

/// What members' clients tell each other in an application message of kind
/// [`ApplicationKind::Control`], encrypted for the group (the server never reads it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlMessage {
    /// A moderator replaced the room link: its new secret, whose key the room policy in the
    /// group context now names (so a member checks it against the group, not the sender).
    RoomLink {
        /// The secret in the link's fragment (`#k=`).
        secret: String,
    },
}

/// What a participant may do in a room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May lock, set the password, kick, ban and grant moderation.
    Moderator,
    /// Signed in to an account of the server's organisation: may take part.
    #[default]
    Participant,
    /// Joined without signing in: may take part as far as the room's [`Permissions`] let
    /// guests.
    Guest,
}

/// Why the server removed a participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// A moderator kicked it.
    Kicked,
    /// A moderator banned its device.
    Banned,
    /// A moderator turned it away from the lobby.
    Denied,
    /// A moderator ended the meeting for everyone.
    MeetingEnded,
}

/// What a joining client must do about the MLS group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupAction {
    /// The room has no group yet: create it, listing the server as external sender.
    CreateGroup,
    /// Upload a key package and wait for a Welcome.
    AwaitWelcome,
    /// Upload a key package and wait in the lobby: a moderator admits (a Welcome follows) or
    /// denies ([`ServerMessage::Removed`]).
    WaitInLobby,
    /// Upload a key package and wait: no moderator is in the meeting yet, and the room lets
    /// nobody in before one comes.
    WaitForModerator,
}

/// A participant as the server sees it. Clients trust the MLS roster, not this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    /// Server-assigned id.
    pub id: ParticipantId,
    /// Claimed display name.
    pub display_name: String,
    /// Its role in the room.
    #[serde(default)]
    pub role: Role,
    /// The fingerprint of its MLS signature key (as `Fingerprint` displays it), once the
    /// server has seen its key package or group: lets clients pair a roster member with the
    /// server's id without trusting names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// A moderator muted it: the SFU forwards none of its audio until it unmutes itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub muted: bool,
    /// The account it signed in with, as the server vouches; `None` for a guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// One ICE server, as a browser's `RTCIceServer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `turn:host:port` / `turns:host:port?transport=tcp` URLs.
    pub urls: Vec<String>,
    /// `<expiry unix time>:<participant id>`.
    pub username: String,
    /// Base64 of HMAC-SHA1(shared secret, username).
    pub credential: String,
}

/// Messages from the server to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The join was accepted.
    Joined {
        /// Our id in the room.
        participant_id: ParticipantId,
        /// The server's MLS external-sender identity (a serialized SigningIdentity) to list in
        /// the group when creating it.
        external_sender: Bytes,
        /// Whether to create the group or wait to be added.
        group: GroupAction,
    },
    /// A Welcome into the room's group.
    Welcome {
        /// MLS Welcome message.
        welcome: Bytes,
    },
    /// Another member's commit, sequenced by the delivery service.
    Commit {
        /// MLS commit.
        commit: Bytes,
        /// The epoch the group is at after it.
        epoch: u64,
    },
    /// Our commit won its epoch: merge it.
    CommitAccepted {
        /// The epoch the group is at now.
        epoch: u64,
    },
    /// Our commit lost (another won the epoch) or was invalid: discard it, process the winner,
    /// and commit again if still needed.
    CommitRejected {
        /// The group's current epoch at the delivery service.
        epoch: u64,
        /// Why.
        code: ErrorCode,
    },
    /// A proposal from the server as external sender (a removal).
    Proposal {
        /// MLS proposal (PublicMessage).
        proposal: Bytes,
    },
    /// This client is asked to commit: add these key packages and include pending proposals.
    CommitRequested {
        /// Key packages of people waiting to join.
        key_packages: Vec<Bytes>,
    },
    /// An MLS application message relayed from a member.
    Application {
        /// MLS PrivateMessage.
        message: Bytes,
        /// Its number in the room (see [`KeptMessage::number`]); not the envelope's `seq`,
        /// which numbers what the server sends this one session.
        #[serde(default)]
        number: u64,
    },
    /// The answer to [`ClientMessage::History`]: kept messages in order.
    History {
        /// The next kept messages, oldest first.
        messages: Vec<KeptMessage>,
        /// More follow: ask again after the last one.
        more: bool,
    },
    /// The SFU's answer to our offer.
    SdpAnswer {
        /// SDP text.
        sdp: String,
    },
    /// The SFU renegotiates (new tracks to receive): answer with [`ClientMessage::SdpAnswer`].
    SdpOffer {
        /// SDP text.
        sdp: String,
    },
    /// Who the server says is in the room.
    Participants {
        /// Participants, in join order.
        participants: Vec<ParticipantInfo>,
    },
    /// The room's settings changed (sent to everyone in it).
    RoomSettings {
        /// No new joiners are let in.
        locked: bool,
        /// Joiners must give the password.
        password_required: bool,
        /// Joiners wait in the lobby until a moderator admits them; only a moderator's client
        /// commits an Add, and clients warn about a member no moderator added.
        #[serde(default)]
        lobby: bool,
        /// What each role may do.
        #[serde(default)]
        permissions: Permissions,
        /// Nobody joins while no moderator is in the meeting.
        #[serde(default)]
        wait_for_moderator: bool,
    },
    /// Right after `joined`: the secret that lets this participant resume its session from a
    /// new connection ([`ClientMessage::Resume`]), and its capability for the room's file store.
    /// From here on every message carries a `seq` in its envelope (see [`decode_numbered`]).
    ResumeToken {
        /// 128 random bits, hex.
        token: String,
        /// 256 random bits, base64url: the `Authorization: Bearer` token of the room's store of
        /// encrypted files (`/api/blobs`), good while this participant is in the room. Empty
        /// from a server without one.
        #[serde(default)]
        blob_token: String,
    },
    /// When the participant is let into the meeting (on joining, or on leaving the lobby),
    /// before what the meeting sends it: the TURN relays to use where a direct path to the SFU
    /// fails (a browser puts them in its RTCPeerConnection's `iceServers`), with credentials
    /// for this participant that expire soon (TURN REST API); empty without relays. Someone
    /// waiting in the lobby gets none.
    IceServers {
        /// The relays.
        servers: Vec<IceServer>,
    },
    /// The session was resumed: the messages the old connection missed follow, numbered.
    Resumed {
        /// How many are replayed.
        replayed: u64,
        /// The highest `seq` of the client's own numbered messages the server has taken: the
        /// client sends the later ones again (they may have died with the old connection);
        /// the server ignores a number it has already taken.
        #[serde(default)]
        last_client_seq: u64,
    },
    /// To moderators: the room's moderator key. Whoever joins with it (a host link) enters as
    /// a moderator, past the lobby — so a moderator who dropped out can come back as one. Sent
    /// again, with a new key, when a moderator leaves or is removed while others moderate: the
    /// old key then opens nothing.
    ModeratorKey {
        /// 128 random bits, hex.
        key: String,
    },
    /// To someone waiting to be let in: what it waits for now changed — a moderator arrived
    /// in a room with a lobby ([`GroupAction::WaitInLobby`]: now for admission), or the last
    /// one left a room where nobody joins before a moderator
    /// ([`GroupAction::WaitForModerator`]).
    Waiting {
        /// [`GroupAction::WaitInLobby`] or [`GroupAction::WaitForModerator`].
        group: GroupAction,
    },
    /// To moderators: who waits in the lobby (the whole list, on every change).
    Lobby {
        /// Waiting participants, in arrival order, with their key fingerprint once their key
        /// package arrived (a moderator's client commits the Add only for a fingerprint its
        /// user admitted).
        waiting: Vec<ParticipantInfo>,
    },
    /// A moderator removed us; the server closes the connection after this message.
    Removed {
        /// Why.
        reason: RemovalReason,
    },
    /// Something the client sent was refused. The connection stays open unless the code says
    /// otherwise.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// With [`ErrorCode::RateLimited`]: how long to wait before trying again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

/// Stable error codes, shared by server, native client and browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message's `v` is not a version this server speaks.
    UnsupportedVersion,
    /// The message is not valid JSON or not a known message.
    Malformed,
    /// The message exceeds [`MAX_MESSAGE_BYTES`].
    TooLarge,
    /// The message is not allowed in the current state (e.g. a commit before joining).
    OutOfOrder,
    /// The room name is empty, too long or has characters outside `a-z 0-9 -`.
    InvalidRoomName,
    /// The display name is empty, too long or has control characters.
    InvalidDisplayName,
    /// A commit for an epoch the group has left.
    WrongEpoch,
    /// An MLS message that failed validation.
    InvalidMlsMessage,
    /// An SDP the SFU could not accept.
    InvalidSdp,
    /// Too many messages or join attempts too fast; the error says when to retry.
    RateLimited,
    /// The join was refused: the room does not exist (a join with a password never creates
    /// one), is locked, or the password is wrong or missing. One code and one message for all
    /// of these, so that a refusal does not tell whether a room exists.
    AccessDenied,
    /// A moderator banned this device from the room.
    Banned,
    /// The organisation lets only signed-in people join; this connection has no sign-in.
    SignInRequired,
    /// Only moderators may do this.
    Forbidden,
    /// A moderation message named a participant who is not in the room.
    UnknownParticipant,
    /// The new room password does not meet the server's policy.
    WeakPassword,
    /// A resume was refused: unknown or expired session, wrong token, or messages it missed
    /// are no longer kept. Join afresh.
    ResumeFailed,
    /// The server failed; the message may be retried.
    Internal,
}

/// Why a message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
    /// `v` missing or not [`PROTOCOL_VERSION`].
    #[error("unsupported protocol version {0:?}")]
    UnsupportedVersion(Option<u64>),
    /// Not JSON, or not a known message of this version.
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl ProtocolError {
    /// The code to tell the peer.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::TooLarge(_) => ErrorCode::TooLarge,
            ProtocolError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            ProtocolError::Malformed(_) => ErrorCode::Malformed,
        }
    }
}

#[derive(Serialize)]
struct Outgoing<'a, T> {
    v: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Deserialize)]
struct VersionProbe {
    v: Option<serde_json::Value>,
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct Incoming<T> {
    #[allow(dead_code)] // checked by VersionProbe before this parse
    v: u16,
    #[serde(flatten)]
    body: T,
}

/// Encodes a message as a versioned JSON text.
pub fn encode<T: Serialize>(message: &T) -> String {
    encode_envelope(None, message)
}

/// Encodes a message with its sequence number in the envelope: the server numbers every
/// message to a joined participant, so a resumed session can ask for what it missed, and a
/// client numbers what it sends in a session, so it can send again what the server missed
/// (see [`ServerMessage::Resumed`]).
pub fn encode_numbered<T: Serialize>(seq: u64, message: &T) -> String {
    encode_envelope(Some(seq), message)
}

fn encode_envelope<T: Serialize>(seq: Option<u64>, message: &T) -> String {
    serde_json::to_string(&Outgoing {
        v: PROTOCOL_VERSION,
        seq,
        body: message,
    })
    .unwrap_or_else(|e| unreachable!("protocol messages always serialize: {e}"))
}

/// Decodes a versioned JSON text: size first, then version, then the message.
pub fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, ProtocolError> {
    decode_numbered(text).map(|(_, message)| message)
}

/// Decodes a message and the sequence number in its envelope, if it has one.
pub fn decode_numbered<T: for<'de> Deserialize<'de>>(
    text: &str,
) -> Result<(Option<u64>, T), ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge(text.len()));
    }
    let probe: VersionProbe =
        serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    match probe.v.as_ref().and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
        other => return Err(ProtocolError::UnsupportedVersion(other)),
    }
    let incoming: Incoming<T> =
        serde_json::from_str(text).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    Ok((probe.seq, incoming.body))
}
