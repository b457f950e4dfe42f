//! # sealroom-participant
//!
//! The client side of a meeting's end-to-end encryption as one sans-IO state machine, in the
//! grammar of str0m's `Rtc`: what the server says and what the user does go in
//! ([`Participant::handle_message`], [`Participant::admit`], [`Participant::self_update`],
//! [`Participant::send_application`]), and what follows comes out of
//! [`Participant::poll_output`] — messages to send, new epochs (the frame layer's key, the
//! roster, the security code), membership notices, warnings and errors. It holds the device's
//! MLS state and every rule about it; it has no socket, no clock and no thread.
//!
//! The native client (`sealroom-client`) drives it from its tokio loop and the browser through
//! `sealroom-wasm`, so both follow exactly these rules:
//! - every group is a room link's: a founder who came without a link makes one
//!   ([`Output::RoomLink`]), and a joiner joins only a group with a room policy (of its link,
//!   if it came with one);
//! - a device the server asks us to add is added only where the group's room policy allows it
//!   (see `admission`), and a refusal is said to the user;
//! - as a moderator, we keep the room policy as our user and the room ask (the lobby, who
//!   moderates), by commits every member checks;
//! - every member a commit adds or removes is announced with its key's fingerprint
//!   ([`Notice`]);
//! - a proposal by the server to add anyone is refused and flagged;
//! - a relayed message must be what it is relayed as: an application message that is in fact a
//!   handshake, or a commit that is not one, is an error and changes nothing;
//! - chat comes out decrypted, named from the sender's MLS credential, each message once (see
//!   `chat`); a private message is sealed to its recipient's key inside the group's message;
//! - raised hands, reactions and polls are checked where they arrive (see `interaction`): only
//!   a moderator lowers another's hand, and a vote is sealed to the poll's creator, whose core
//!   alone counts it and publishes the results (to everyone, or sealed to each moderator);
//! - a file offer (where the encrypted file is, its key and hash) is checked where it arrives
//!   and named from the sender's credential (see `files`), each once;
//! - the roster names a member's account only where the organisation key pinned on first use
//!   vouches for that member's own leaf, and a server presenting another key is reported, not
//!   trusted (see `org_identity`).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod admission;
mod breakout;
mod chat;
mod files;
mod interaction;
mod org_identity;
mod recording;

use std::collections::{BTreeMap, VecDeque};

use sealroom_e2ee::{
    Device, DeviceIdentity, EpochChange, ExternalSenderKey, Fingerprint, GroupError, GroupSession,
    Incoming, LinkSecret, OrgKey, OrgTrust, OutgoingCommit, ProposalSender, ProposedChange,
    Relayed, RoomPolicy, RosterMember, SecurityCode, sframe::CipherSuite,
};
use sealroom_protocol::{
    ApplicationKind, Bytes, ChatMessage, ChatText, ClientMessage, ControlMessage, ErrorCode,
    GroupAction, KeptMessage, MAX_CHAT_TEXT_CHARS, ParticipantId, ServerMessage, decode, encode,
};
use zeroize::Zeroizing;

use admission::{Admission, GroupPolicy, Refusal};
use breakout::BreakoutState;
pub use breakout::{BreakoutNotice, BreakoutView};
pub use chat::ChatEntry;
use chat::ChatState;
pub use files::FileEntry;
use interaction::InteractionState;
pub use interaction::{PollView, RaisedHand, Reaction, ResultsView};
pub use recording::ActiveRecording;
use recording::RecordingState;

/// How many application messages wait, at most, for the commit MLS wants before them.
pub const MAX_HELD_MESSAGES: usize = 256;

/// The SFrame cipher suite of every client's media: AES_128_GCM_SHA256_128 (0x0004).
pub const MEDIA_SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

/// What the caller is to do next, drained with [`Participant::poll_output`] in order.
#[derive(Debug)]
pub enum Output {
    /// Send this message to the server.
    Send(ClientMessage),
    /// The group is at a new epoch (or we just entered it): install its media secret in the
    /// frame layer, show its roster and security code.
    Epoch(Box<Epoch>),
    /// A commit removed us from the group: no further keys.
    Removed,
    /// A member joined or left the encrypted group.
    Notice(Notice),
    /// Something the user must know about the group's security (a device the server wanted
    /// added that nobody admitted, a member added without admission).
    Warning(String),
    /// A message could not be handled; nothing changed because of it.
    Error(String),
    /// An application message from a member, of a kind this core does not handle itself.
    Application(ReceivedApplication),
    /// A chat message from a member, to everyone or to us alone.
    Chat(ChatEntry),
    /// Messages of the room's history we cannot decrypt: sent before we (re)joined the group,
    /// under keys this device never had.
    ChatUnreadable(u64),
    /// The members whose hand is up, in the order we heard them raise it: the whole list, each
    /// time it changes.
    Hands(Vec<RaisedHand>),
    /// A member reacted (we too).
    Reaction(Reaction),
    /// A poll, whole, each time it changes.
    Poll(Box<PollView>),
    /// A member offered a file: download its blob, decrypt it with the offer's key and check
    /// its hash.
    File(FileEntry),
    /// The recordings under way (ours too), whenever that changes: every participant is to
    /// see that the meeting is recorded, by whom, and for whose keys.
    Recordings(Vec<ActiveRecording>),
    /// The breakout rooms open (where we are sent, and every room's link), whenever that
    /// changes; `None` once they closed and everyone is to come back.
    Breakouts(Option<Box<BreakoutView>>),
    /// A moderator's broadcast to the breakout rooms, or (to moderators) a request for help.
    Breakout(BreakoutNotice),
    /// The room link's secret is new: we made it when we founded the group without one, or a
    /// moderator replaced it. For the user to share as `/<room>#k=<secret>`; without it,
    /// joiners wait for a moderator's admission.
    RoomLink(String),
    /// First contact with this server's organisation key: keep it as the pin for this server
    /// and hand it back as `pinned` from now on.
    PinOrganisationKey(OrgKey),
    /// The server presents another organisation key than the one pinned: warn the user. The
    /// pinned key stays the one members are checked against; only the user may re-pin.
    OrganisationKeyChanged {
        /// The key pinned on first use.
        pinned: OrgKey,
        /// The key the server presents now.
        presented: OrgKey,
    },
}

/// A new epoch of the group.
#[derive(Debug)]
pub struct Epoch {
    /// The epoch number.
    pub epoch: u64,
    /// The group's id: a room that emptied and filled again has a new group.
    pub group_id: Vec<u8>,
    /// Our leaf: our SFrame sender index.
    pub own_leaf: u32,
    /// The members, from the MLS tree (not from the server).
    pub roster: Vec<RosterMember>,
    /// What people compare aloud.
    pub security_code: SecurityCode,
    /// The epoch's SFrame base key for [`MEDIA_SUITE`]; hand it to the frame layer and drop it.
    pub media_secret: Zeroizing<Vec<u8>>,
    /// How the group changed, or `None` when we just created or joined it: the frame layer
    /// then starts a new keyring, since a new group's epochs count afresh.
    pub change: Option<EpochChange>,
    /// The room's policy in the group context: its lobby and moderators.
    pub policy: RoomPolicy,
}

/// A change of the group's membership, for every screen to announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The member joined the encrypted group.
    Joined(RosterMember),
    /// The member left it, or was removed.
    Left(RosterMember),
}

/// An application message from a member.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReceivedApplication {
    /// The sender's leaf.
    pub sender: u32,
    /// Its kind, as the sender bound it (`None`: a kind Sealroom does not know).
    pub kind: Option<ApplicationKind>,
    /// The decrypted bytes.
    pub data: Vec<u8>,
}

/// Why a command of the user's could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The participant is not in the lobby, or its device key has not arrived yet.
    #[error("cannot admit {0}: not in the lobby, or its device key has not arrived yet")]
    UnknownWaiter(ParticipantId),
    /// We are not in a group yet (or any more).
    #[error("not in the encrypted group")]
    NoGroup,
    /// Only a moderator the room policy names may do this.
    #[error("only a moderator of the encrypted group may do this")]
    NotModerator,
    /// A chat message must have 1 to [`MAX_CHAT_TEXT_CHARS`] characters.
    #[error("a chat message must have 1 to {MAX_CHAT_TEXT_CHARS} characters")]
    ChatLength,
    /// A reaction must be one of [`REACTIONS`](sealroom_protocol::REACTIONS).
    #[error("a reaction must be one of {:?}", sealroom_protocol::REACTIONS)]
    Reaction,
    /// The poll or the vote is not one clients take; the text says why.
    #[error("{0}")]
    Poll(&'static str),
    /// The file offer is not one clients take; the text says why.
    #[error("file offer: {0}")]
    FileOffer(&'static str),
    /// The recording notice is not one clients take; the text says why.
    #[error("recording: {0}")]
    Recording(&'static str),
    /// We are not recording.
    #[error("we are not recording")]
    NotRecording,
    /// No breakout rooms are open.
    #[error("no breakout rooms are open")]
    NoBreakouts,
    /// The breakout plan or broadcast is not one clients take; the text says why.
    #[error("breakout rooms: {0}")]
    Breakout(&'static str),
    /// [`MAX_HELD_MESSAGES`] messages already wait for a commit the server has not brought.
    #[error("{MAX_HELD_MESSAGES} messages already wait for the group's next epoch")]
    TooManyHeld,
    /// MLS refused.
    #[error("MLS: {0}")]
    Group(#[from] GroupError),
}

/// One participant's side of a meeting: its device, its group, and the rules.
pub struct Participant {
    device: Device,
    /// The secret of the room link we came with, or made when we founded the group.
    link: Option<LinkSecret>,
    external_sender: ExternalSenderKey,
    group: Option<GroupSession>,
    /// A self-update was asked for and has not landed yet.
    wants_update: bool,
    /// The server proposed removals that no commit has carried out yet.
    removals_pending: bool,
    /// The lobby setting our user chose, or the server's room turned on, that the group's
    /// policy does not have yet: we commit it if we moderate.
    wanted_lobby: Option<bool>,
    /// The new room link our user asked for, until the policy names its key.
    wanted_link: Option<LinkSecret>,
    admission: Admission,
    /// Everyone ever seen at a leaf, so frames from a member who left still get a name.
    names_by_leaf: BTreeMap<u32, String>,
    chat: ChatState,
    interaction: InteractionState,
    recording: RecordingState,
    breakout: BreakoutState,
    /// Who moderates a group we found: ourselves, or, in a breakout room, the moderators of
    /// the room that opened it (see [`Participant::breakout_participant`]).
    founding_moderators: Option<Vec<Fingerprint>>,
    /// Application messages our user sent while a proposal awaited its commit, in order:
    /// MLS lets none out before that commit, so they leave in the epoch it starts.
    held: VecDeque<(ApplicationKind, Vec<u8>)>,
    /// The organisation key pinned for this server and the time, for the roster's bindings.
    org_trust: OrgTrust,
    outputs: VecDeque<Output>,
}

impl Participant {
    /// A participant signing with `identity`, before the server has let it in, holding the
    /// secret of the room link it came with (`None`: it typed the room's name). With a link, it
    /// proves the link when it joins, founds the link's group if it is first, and joins only
    /// that group; without one, it makes a link if it founds the group, and otherwise waits
    /// for a moderator's admission.
    pub fn new(identity: DeviceIdentity, link: Option<LinkSecret>) -> Self {
        Self {
            device: Device::new(identity),
            link,
            external_sender: ExternalSenderKey(Vec::new()),
            group: None,
            wants_update: false,
            removals_pending: false,
            wanted_lobby: None,
            wanted_link: None,
            admission: Admission::default(),
            names_by_leaf: BTreeMap::new(),
            chat: ChatState::default(),
            interaction: InteractionState::default(),
            recording: RecordingState::default(),
            breakout: BreakoutState::default(),
            founding_moderators: None,
            held: VecDeque::new(),
            org_trust: OrgTrust::default(),
            outputs: VecDeque::new(),
        }
    }

    /// Our device key's fingerprint, as rosters and the lobby show it.
    pub fn fingerprint(&self) -> Fingerprint {
        self.device.identity().fingerprint()
    }

    /// Our device's MLS signature public key, which our organisation binding names.
    pub fn device_public_key(&self) -> &[u8] {
        self.device.identity().public_key()
    }

    /// Whether we are a member of the group.
    pub fn is_member(&self) -> bool {
        self.group.as_ref().is_some_and(|g| !g.is_removed())
    }

    /// The name last seen at a leaf (members who left keep theirs).
    pub fn name_at_leaf(&self, leaf: u32) -> Option<&str> {
        self.names_by_leaf.get(&leaf).map(String::as_str)
    }

    /// Members of the encrypted group whom the server does not list as participants: a ghost
    /// the server hides, for every screen to flag.
    pub fn unlisted_members(&self) -> Vec<RosterMember> {
        let Some(group) = self.group.as_ref().filter(|g| !g.is_removed()) else {
            return Vec::new();
        };
        let own_leaf = group.own_leaf_index();
        let listed = |m: &RosterMember| {
            let fingerprint = m.fingerprint.to_string();
            self.admission
                .participants
                .iter()
                .any(|p| p.fingerprint.as_deref() == Some(fingerprint.as_str()))
        };
        group
            .roster()
            .into_iter()
            .filter(|m| m.leaf_index != own_leaf && !listed(m))
            .collect()
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Takes a message from the server. Every message goes here: the lobby rules read the
    /// room's settings, the participant list and the lobby too.
    pub fn handle_message(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Joined {
                participant_id,
                external_sender,
                group,
            } => {
                self.chat.own_ids.push(participant_id.clone());
                self.external_sender = ExternalSenderKey(external_sender.0.clone());
                self.on_joined(*group);
            }
            ServerMessage::Welcome { welcome } => self.on_welcome(welcome),
            ServerMessage::Commit { commit, .. } => self.on_commit(commit),
            ServerMessage::CommitAccepted { .. } => self.on_commit_accepted(),
            ServerMessage::CommitRejected { epoch, code } => self.on_commit_rejected(*epoch, *code),
            ServerMessage::Proposal { proposal } => self.on_proposal(proposal),
            ServerMessage::CommitRequested { key_packages } => {
                self.on_commit_requested(key_packages)
            }
            ServerMessage::Application { message, number } => self.on_application(message, *number),
            ServerMessage::History { messages, more } => self.on_history(messages, *more),
            ServerMessage::Participants { participants } => {
                self.admission.participants = participants.clone();
            }
            ServerMessage::Lobby { waiting } => self.admission.waiting = waiting.clone(),
            // The server may tighten the group's lobby, never open it.
            ServerMessage::RoomSettings { lobby: true, .. } => self.wanted_lobby = Some(true),
            _ => {}
        }
        // Only these change the group, the server's list or the room's settings, which decide
        // the policy a moderator keeps: not every media or application message.
        let may_change_policy = matches!(
            message,
            ServerMessage::Joined { .. }
                | ServerMessage::Welcome { .. }
                | ServerMessage::Commit { .. }
                | ServerMessage::CommitAccepted { .. }
                | ServerMessage::CommitRejected { .. }
                | ServerMessage::Participants { .. }
                | ServerMessage::RoomSettings { .. }
        );
        if may_change_policy {
            self.maintain_policy();
        }
    }

    /// Our user turns the room's lobby on or off: the server is told, and, if we moderate a
    /// room link's group, we commit the change to its policy (which every member's client
    /// then follows).
    pub fn set_lobby(&mut self, enabled: bool) {
        self.send(ClientMessage::SetLobby { enabled });
        self.wanted_lobby = Some(enabled);
        self.maintain_policy();
    }

    /// Our user admits a participant from the lobby: the server is told, and our client will
    /// add that device (and no other for it) when asked to commit.
    pub fn admit(&mut self, participant_id: &ParticipantId) -> Result<(), CommandError> {
        if self.admission.admit(participant_id).is_none() {
            return Err(CommandError::UnknownWaiter(participant_id.clone()));
        }
        self.send(ClientMessage::Admit {
            participant_id: participant_id.clone(),
        });
        Ok(())
    }

    /// Our user, a moderator, replaces the room link, so that whoever holds the old one needs a
    /// moderator's admission: the room policy is committed with the new link's key, and the new
    /// secret goes to the members inside the group ([`ControlMessage::RoomLink`]) once that
    /// commit lands. Tried again on the new epoch if another commit wins.
    pub fn rotate_link(&mut self) -> Result<(), CommandError> {
        self.ensure_moderator()?;
        self.wanted_link = Some(LinkSecret::generate()?);
        self.maintain_policy();
        Ok(())
    }

    /// Fails unless the room policy names our key as a moderator's.
    fn ensure_moderator(&self) -> Result<(), CommandError> {
        let policy = self.group.as_ref().and_then(GroupSession::policy);
        let policy = policy.ok_or(CommandError::NoGroup)?;
        if !policy.is_moderator(&self.fingerprint()) {
            return Err(CommandError::NotModerator);
        }
        Ok(())
    }

    /// Commits a self-update (post-compromise security); tried again on the new epoch if
    /// another commit wins.
    pub fn self_update(&mut self) {
        self.wants_update = true;
        self.commit(&[]);
    }

    /// Encrypts `data` for the group, marked as `kind` (the server refuses a kind our role may
    /// not send).
    pub fn send_application(
        &mut self,
        kind: ApplicationKind,
        data: &[u8],
    ) -> Result<(), CommandError> {
        if self.group.is_none() {
            return Err(CommandError::NoGroup);
        }
        if self.held.len() >= MAX_HELD_MESSAGES {
            return Err(CommandError::TooManyHeld);
        }
        self.held.push_back((kind, data.to_vec()));
        self.send_held()
    }

    /// Sends what our user wrote, oldest first, until MLS wants a commit before the rest.
    fn send_held(&mut self) -> Result<(), CommandError> {
        let group = self.group.as_mut().ok_or(CommandError::NoGroup)?;
        while let Some((kind, data)) = self.held.front() {
            let message = match group.encrypt_application(kind.label(), data) {
                Ok(message) => message,
                Err(GroupError::CommitRequired) => return Ok(()),
                Err(e) => {
                    self.held.pop_front();
                    return Err(e.into());
                }
            };
            self.held.pop_front();
            self.outputs
                .push_back(Output::Send(ClientMessage::Application {
                    message: Bytes(message),
                }));
        }
        Ok(())
    }

    /// Our user sends a chat message: to everyone, or sealed to the member at leaf `to` alone.
    /// `sent_at` is now by our clock, in milliseconds since the Unix epoch.
    pub fn send_chat(
        &mut self,
        text: &str,
        to: Option<u32>,
        sent_at: u64,
    ) -> Result<(), CommandError> {
        let text = ChatText {
            text: text.to_owned(),
            sent_at,
        };
        if !text.is_acceptable() {
            return Err(CommandError::ChatLength);
        }
        let message = match to {
            None => ChatMessage::Text(text),
            Some(leaf) => {
                let group = self.group.as_ref().ok_or(CommandError::NoGroup)?;
                let sealed = group.seal_private(leaf, encode(&text).as_bytes())?;
                ChatMessage::Private {
                    sealed: Bytes(sealed),
                }
            }
        };
        self.send_application(ApplicationKind::Chat, encode(&message).as_bytes())
    }

    /// Our client came back (a reload, a new session) holding the chat of `group` up to number
    /// `after`, sent by us under `earlier_ids`: once we are a member of that group, we ask the
    /// server for the rest, show what we can decrypt, and count what we cannot.
    pub fn catch_up_chat(&mut self, group: &[u8], after: u64, earlier_ids: &[ParticipantId]) {
        self.chat.had_up_to(after);
        self.chat.own_ids.extend_from_slice(earlier_ids);
        self.chat.catch_up_group = Some(group.to_vec());
        if self.is_member() {
            self.send_catch_up();
        }
    }

    /// Private messages from other members that were sealed to someone else: our key could
    /// not open them.
    pub fn private_messages_not_for_us(&self) -> u64 {
        self.chat.not_for_us
    }

    fn on_joined(&mut self, action: GroupAction) {
        self.group = None;
        self.wants_update = false;
        self.removals_pending = false;
        // Hands and polls are named by leaves of the group we leave behind.
        self.interaction = InteractionState::default();
        match action {
            GroupAction::CreateGroup => self.create_group(),
            // A key package, then a Welcome (or, from the lobby, a denial).
            GroupAction::AwaitWelcome
            | GroupAction::WaitInLobby
            | GroupAction::WaitForModerator => match self.key_package() {
                Ok(key_package) => self.send(ClientMessage::KeyPackage {
                    key_package: Bytes(key_package),
                }),
                Err(e) => self.error(format!("key package: {e}")),
            },
        }
    }

    fn key_package(&self) -> Result<Vec<u8>, GroupError> {
        match &self.link {
            Some(link) => self.device.key_package_with_link(link),
            None => self.device.key_package(),
        }
    }

    fn create_group(&mut self) {
        let came_with_link = self.link.is_some();
        let link = match self.link.take().map_or_else(LinkSecret::generate, Ok) {
            Ok(link) => self.link.insert(link),
            Err(e) => return self.error(format!("room link: {e}")),
        };
        let new_link = (!came_with_link).then(|| link.to_text());
        let policy = match &self.founding_moderators {
            Some(moderators) => RoomPolicy {
                link_key: link.link_key(),
                lobby: false,
                moderators: moderators.clone(),
            },
            None => RoomPolicy::founded(link.link_key(), self.fingerprint()),
        };
        let created = self
            .device
            .create_group_with_policy(std::slice::from_ref(&self.external_sender), &policy)
            .and_then(|group| Ok((group.group_info()?, group)));
        match created {
            Ok((group_info, group)) => {
                self.outputs.extend(new_link.map(Output::RoomLink));
                self.group = Some(group);
                self.epoch_changed(None);
                self.send(ClientMessage::GroupCreated {
                    group_info: Bytes(group_info),
                });
            }
            Err(e) => self.error(format!("create group: {e}")),
        }
    }

    /// Joins the group a Welcome brings us into, if it lists the server as its one external
    /// sender (else the server could not remove departed members, who would keep every key)
    /// and, when we came with a room link, if it is that link's group.
    fn on_welcome(&mut self, welcome: &Bytes) {
        let joined = self.device.join_group(welcome.as_ref()).and_then(|group| {
            group.check_external_sender(&self.external_sender)?;
            Ok(group)
        });
        match joined {
            Ok(group) if self.is_links_group(&group) => {
                self.group = Some(group);
                self.epoch_changed(None);
            }
            Ok(_) => self.warning(
                "We were invited into an encrypted group that is not the one of our room link, \
                 or that has no room policy. We did not join it."
                    .into(),
            ),
            Err(GroupError::ExternalSenderMismatch) => self.warning(
                "We were invited into an encrypted group that does not let the server remove \
                 departed members. We did not join it."
                    .into(),
            ),
            Err(e) => self.error(format!("welcome: {e}")),
        }
    }

    /// Whether `group` has a room policy, of our room link if we came with one.
    fn is_links_group(&self, group: &GroupSession) -> bool {
        group
            .link_key()
            .is_some_and(|key| self.link.as_ref().is_none_or(|link| link.link_key() == key))
    }

    fn on_commit(&mut self, commit: &Bytes) {
        let Some(group) = self.group.as_mut() else {
            return;
        };
        // Another commit won the epoch: ours, if any, is void.
        if group.has_pending_commit() {
            let _ = group.discard_pending_commit();
        }
        match group.process_relayed(Relayed::Commit, commit.as_ref()) {
            Ok(Incoming::Commit(change)) => {
                let removed_us = change.removed_us;
                self.epoch_changed(Some(change));
                if !removed_us && self.wants_update {
                    self.commit(&[]);
                }
            }
            Ok(_) => self.error("commit: not a commit".into()),
            Err(e) => self.error(format!("commit: {e}")),
        }
    }

    fn on_commit_accepted(&mut self) {
        let Some(group) = self.group.as_mut() else {
            return;
        };
        if !group.has_pending_commit() {
            return;
        }
        match group.merge_pending_commit() {
            Ok(change) => {
                self.wants_update = false;
                self.epoch_changed(Some(change));
            }
            Err(e) => self.error(format!("merge: {e}")),
        }
    }

    fn on_commit_rejected(&mut self, server_epoch: u64, code: ErrorCode) {
        let Some(group) = self.group.as_mut() else {
            return;
        };
        // A rejection can be stale: if we already moved to the server's epoch and committed
        // again there, that newer commit is still in play.
        let stale = code == ErrorCode::WrongEpoch && group.epoch() >= server_epoch;
        if group.has_pending_commit() && !stale {
            let _ = group.discard_pending_commit();
        }
        // The winner arrives (or arrived) as a Commit; the server asks again for pending joins,
        // and a wanted self-update is tried again once we are on its epoch.
        if self.wants_update && group.epoch() >= server_epoch && !group.has_pending_commit() {
            self.commit(&[]);
        }
    }

    fn on_proposal(&mut self, proposal: &Bytes) {
        let Some(group) = self.group.as_mut() else {
            return;
        };
        match group.process_relayed(Relayed::Proposal, proposal.as_ref()) {
            // The server may only propose removals; the MLS rules keep any other proposal out
            // of every commit, and the user is told someone tried.
            Ok(Incoming::Proposal {
                sender: ProposalSender::ExternalSender(_),
                change: ProposedChange::Add { credential_name },
            }) => self.warning(format!(
                "The server tried to add {credential_name:?} to the encrypted group. It was refused."
            )),
            Ok(Incoming::Proposal {
                change: ProposedChange::Remove { .. },
                ..
            }) => self.removals_pending = true,
            Ok(Incoming::Proposal { .. }) => {}
            Ok(_) => self.error("proposal: not a proposal".into()),
            Err(e) => self.error(format!("proposal: {e}")),
        }
    }

    fn on_commit_requested(&mut self, key_packages: &[Bytes]) {
        let Some(policy) = self.group.as_ref().and_then(GroupSession::policy) else {
            return;
        };
        let own = self.fingerprint();
        let group = GroupPolicy {
            policy: &policy,
            own: &own,
        };
        let (admissible, refusals) = self.admission.admissible(key_packages, group);
        for refusal in refusals {
            match refusal {
                Refusal::NotAdmitted(fingerprint) => self.warning(format!(
                    "The server asked us to add a device we did not admit (key {fingerprint}). It was refused."
                )),
                Refusal::NoLinkProof(fingerprint) => self.warning(format!(
                    "The server asked us to add a device that does not hold the room link (key {fingerprint}). It was refused."
                )),
                Refusal::Unreadable(e) => {
                    self.error(format!("commit_requested: an unreadable key package was left out: {e}"))
                }
            }
        }
        // Nobody we may add: pending removals still get committed; otherwise a commit now would
        // only be asked for again.
        let all_refused = admissible.is_empty() && !key_packages.is_empty();
        if all_refused && !self.removals_pending && !self.wants_update {
            return;
        }
        self.commit(&admissible);
    }

    fn on_application(&mut self, message: &Bytes, seq: u64) {
        if self.group.is_none() || !self.chat.first_sight(seq) {
            return;
        }
        match self.decrypt_application(message.as_ref()) {
            Ok(received) => self.dispatch_application(received, seq),
            Err(_) if self.sent_before_us(message.as_ref()) => {}
            Err(e) => self.error(format!("application message: {e}")),
        }
    }

    /// Whether an application message we cannot decrypt was sent before we entered the group
    /// (in flight as we joined): no error, and a chat message is counted as one we cannot read,
    /// as it would be in the history.
    fn sent_before_us(&mut self, message: &[u8]) -> bool {
        let group = self.group.as_ref();
        let Some(label) = group.and_then(|g| g.label_of_message_before_us(message)) else {
            return false;
        };
        if ApplicationKind::from_label(&label) == Some(ApplicationKind::Chat) {
            self.outputs.push_back(Output::ChatUnreadable(1));
        }
        true
    }

    /// A page of the room's kept chat: what we have not handled and did not send ourselves.
    fn on_history(&mut self, messages: &[KeptMessage], more: bool) {
        for kept in messages {
            let ours = self.chat.own_ids.contains(&kept.from);
            if !self.chat.first_sight(kept.number) || ours {
                continue;
            }
            match self.decrypt_application(kept.message.as_ref()) {
                Ok(received) => self.dispatch_application(received, kept.number),
                Err(_) => self.chat.unreadable += 1,
            }
        }
        match messages.last() {
            Some(last) if more => self.send(ClientMessage::History { after: last.number }),
            _ if self.chat.unreadable > 0 => {
                let unreadable = std::mem::take(&mut self.chat.unreadable);
                self.outputs.push_back(Output::ChatUnreadable(unreadable));
            }
            _ => {}
        }
    }

    fn send_catch_up(&mut self) {
        let Some(group) = self.group.as_ref() else {
            return;
        };
        if let Some(after) = self.chat.catch_up_in(group.group_id()) {
            self.send(ClientMessage::History { after });
        }
    }

    fn decrypt_application(&mut self, message: &[u8]) -> Result<ReceivedApplication, GroupError> {
        let group = self.group.as_mut().ok_or(GroupError::Removed)?;
        match group.process_relayed(Relayed::Application, message)? {
            Incoming::Application {
                sender,
                data,
                authenticated_data,
            } => Ok(ReceivedApplication {
                sender,
                kind: ApplicationKind::from_label(&authenticated_data),
                data,
            }),
            _ => Err(GroupError::Malformed("not an application message".into())),
        }
    }

    fn dispatch_application(&mut self, received: ReceivedApplication, seq: u64) {
        match received.kind {
            Some(ApplicationKind::Control) if self.take_shared_link(&received.data).is_some() => {}
            Some(ApplicationKind::Chat) => match self.read_chat(&received) {
                Ok(Some((text, private))) => {
                    let entry = ChatEntry {
                        seq,
                        sender: received.sender,
                        sender_name: self.name_at_leaf(received.sender).unwrap_or("").to_owned(),
                        private,
                        text: text.text,
                        sent_at: text.sent_at,
                    };
                    self.outputs.push_back(Output::Chat(entry));
                }
                Ok(None) => self.chat.not_for_us += 1,
                Err(e) => self.error(format!("chat message: {e}")),
            },
            Some(ApplicationKind::Interaction) => self.on_interaction(&received),
            Some(ApplicationKind::Poll) => self.on_poll_message(&received),
            Some(ApplicationKind::File) => self.on_file_offer(&received, seq),
            Some(ApplicationKind::Recording) => self.on_recording_notice(&received),
            Some(ApplicationKind::Breakout) => self.on_breakout_message(&received),
            _ => self.outputs.push_back(Output::Application(received)),
        }
    }

    /// The text of a chat message and whether it was private to us; `None` for a private
    /// message our key does not open (sealed to another member).
    fn read_chat(
        &self,
        received: &ReceivedApplication,
    ) -> Result<Option<(ChatText, bool)>, String> {
        let (text, private) = match read_message::<ChatMessage>(&received.data)? {
            ChatMessage::Text(text) => (text, false),
            ChatMessage::Private { sealed } => {
                let group = self.group.as_ref().ok_or("not in the group")?;
                let Ok(opened) = group.open_private(received.sender, sealed.as_ref()) else {
                    return Ok(None);
                };
                (read_message::<ChatText>(&opened)?, true)
            }
        };
        if !text.is_acceptable() {
            return Err(format!("not 1 to {MAX_CHAT_TEXT_CHARS} characters"));
        }
        Ok(Some((text, private)))
    }

    fn commit(&mut self, key_packages: &[&[u8]]) {
        let Some(group) = self.group.as_mut() else {
            return;
        };
        if group.has_pending_commit() || group.is_removed() {
            return;
        }
        let committed = group.commit(key_packages, &[]);
        self.send_commit(committed);
    }

    /// As a moderator, commits the room policy our user and the room ask for: the lobby as [`Participant::set_lobby`] or the server's settings want it, and
    /// moderator status for members the server lists as moderators. The server can thus make
    /// a member a moderator, but only one already in the group: never a device of its own.
    fn maintain_policy(&mut self) {
        let Some(group) = self.group.as_mut() else {
            return;
        };
        let Some(policy) = group.policy() else {
            return;
        };
        if self.wanted_lobby == Some(policy.lobby) {
            self.wanted_lobby = None;
        }
        if let Some(link) = self
            .wanted_link
            .take_if(|l| l.link_key() == policy.link_key)
        {
            return self.share_link(link);
        }
        let own = self.device.identity().fingerprint();
        if !policy.is_moderator(&own) || group.has_pending_commit() || group.is_removed() {
            return;
        }
        let mut wanted = policy.clone();
        wanted.lobby = self.wanted_lobby.unwrap_or(policy.lobby);
        if let Some(link) = &self.wanted_link {
            wanted.link_key = link.link_key();
        }
        for member in group.roster() {
            let listed = self
                .admission
                .is_listed_moderator(&member.fingerprint.to_string());
            if listed && !wanted.is_moderator(&member.fingerprint) {
                wanted.moderators.push(member.fingerprint);
            }
        }
        if wanted != policy {
            let committed = group.commit_policy(&wanted);
            self.send_commit(committed);
        }
    }

    /// The policy names our new link's key: it is ours, and the members get its secret.
    fn share_link(&mut self, link: LinkSecret) {
        let secret = link.to_text();
        self.link = Some(link);
        let message = ControlMessage::RoomLink {
            secret: secret.clone(),
        };
        if let Err(e) = self.send_application(ApplicationKind::Control, encode(&message).as_bytes())
        {
            self.error(format!("room link: {e}"));
        }
        self.outputs.push_back(Output::RoomLink(secret));
    }

    /// A member sent the new room link: taken if the room policy names its key.
    fn take_shared_link(&mut self, data: &[u8]) -> Option<()> {
        let text = std::str::from_utf8(data).ok()?;
        let ControlMessage::RoomLink { secret } = decode(text).ok()?;
        let link = LinkSecret::parse(&secret).ok()?;
        let policy = self.group.as_ref().and_then(GroupSession::policy)?;
        if link.link_key() != policy.link_key {
            self.warning(
                "A member sent a room link that is not this room's. It was ignored.".into(),
            );
            return Some(());
        }
        self.link = Some(link);
        self.outputs.push_back(Output::RoomLink(secret));
        Some(())
    }

    fn send_commit(&mut self, committed: Result<OutgoingCommit, GroupError>) {
        match committed {
            Ok(outgoing) => self.send(ClientMessage::Commit {
                epoch: outgoing.epoch,
                commit: Bytes(outgoing.commit),
                welcome: outgoing.welcome.map(Bytes),
            }),
            Err(e) => self.error(format!("commit: {e}")),
        }
    }

    /// A new epoch: its warnings and notices first, then its keys, roster and code.
    fn epoch_changed(&mut self, change: Option<EpochChange>) {
        // Proposals do not outlive their epoch; the server proposes again what is still due.
        self.removals_pending = false;
        // A group just made or joined checks bindings as we do.
        self.apply_org_trust();
        let Some(group) = self.group.as_ref() else {
            return;
        };
        if group.is_removed() {
            self.drop_held();
            self.outputs.push_back(Output::Removed);
            return;
        }
        if let Some(change) = &change {
            self.announce(change);
        }
        let membership = change.clone();
        match self.epoch_state(change) {
            Ok(epoch) => self.outputs.push_back(Output::Epoch(Box::new(epoch))),
            Err(e) => self.error(format!("epoch: {e}")),
        }
        if let Err(e) = self.send_held() {
            self.error(format!("held message: {e}"));
        }
        match membership {
            Some(change) => {
                self.on_membership_change(&change);
                self.recordings_on_membership_change(&change);
                self.breakouts_on_membership_change(&change);
            }
            None => self.send_catch_up(),
        }
    }

    fn drop_held(&mut self) {
        if !self.held.is_empty() {
            let count = self.held.len();
            self.held.clear();
            self.warning(format!(
                "{count} messages were not sent: we left the group first."
            ));
        }
    }

    /// Announces every addition and removal. (The room policy decides who may be added, and
    /// every member refuses a commit that breaks it: there is nothing left to flag.)
    fn announce(&mut self, change: &EpochChange) {
        let notices = change
            .added
            .iter()
            .cloned()
            .map(Notice::Joined)
            .chain(change.removed.iter().cloned().map(Notice::Left));
        self.outputs.extend(notices.map(Output::Notice));
    }

    fn epoch_state(&mut self, change: Option<EpochChange>) -> Result<Epoch, GroupError> {
        let group = self.group.as_ref().ok_or(GroupError::Removed)?;
        let roster = group.roster();
        for member in &roster {
            self.names_by_leaf
                .insert(member.leaf_index, member.credential_name.clone());
        }
        Ok(Epoch {
            epoch: group.epoch(),
            group_id: group.group_id().to_vec(),
            own_leaf: group.own_leaf_index(),
            security_code: group.security_code()?,
            media_secret: group.sframe_epoch_secret(MEDIA_SUITE)?,
            roster,
            change,
            policy: group
                .policy()
                .ok_or_else(|| GroupError::Malformed("no room policy".into()))?,
        })
    }

    fn send(&mut self, message: ClientMessage) {
        self.outputs.push_back(Output::Send(message));
    }

    fn warning(&mut self, text: String) {
        self.outputs.push_back(Output::Warning(text));
    }

    fn error(&mut self, text: String) {
        self.outputs.push_back(Output::Error(text));
    }
}

/// An application message's content as its sender's client encoded it, strictly decoded.
fn read_message<T: for<'de> serde::Deserialize<'de>>(data: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    decode(text).map_err(|e| e.to_string())
}
