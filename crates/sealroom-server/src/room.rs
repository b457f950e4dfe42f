//! One room: who is in it, and the MLS delivery service for its group. A sans-IO state machine:
//! each method takes what a participant did and returns the messages to send, so the ordering
//! rules (one commit per epoch, removal proposals, who commits pending joins) are tested without
//! sockets. It never holds a group secret: it follows the group's public state only.
//!
//! It also keeps the room's access control: roles, the lock, the password's hash, and the
//! device keys and accounts banned for the room's life. Every moderation method checks the
//! sender's role itself, so no message from a participant can claim a moderator's power.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use sealroom_e2ee::{ExternalSender, Fingerprint, GroupError, ObservedGroup, ObservedMessage};
use sealroom_protocol::{
    ApplicationKind, Bytes, DisplayName, ErrorCode, GroupAction, MAX_BREAKOUT_ROOMS, ParticipantId,
    ParticipantInfo, Permissions, RemovalReason, Role, RoomName, ServerMessage,
};
use subtle::ConstantTimeEq;

use crate::{
    accounts::Account,
    kept_messages::KeptMessages,
    password::{PolicyError, StoredPassword},
};

/// A message for one participant.
pub type Outgoing = (ParticipantId, ServerMessage);

/// Why a participant's message was refused; the connection stays open.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// Not allowed in the participant's current state.
    #[error("{0}")]
    OutOfOrder(&'static str),
    /// An MLS message that failed validation.
    #[error("invalid MLS message: {0}")]
    InvalidMls(#[from] GroupError),
    /// A moderation message from a participant who is not a moderator.
    #[error("only moderators may do this")]
    Forbidden,
    /// A moderation message naming someone not in the room (or, for admit and deny, not in
    /// its lobby).
    #[error("no such participant in the room")]
    UnknownParticipant,
    /// Something the room's permissions do not allow the sender's role.
    #[error("your role may not {0} in this room")]
    NotPermitted(&'static str),
    /// The device's signature key is banned from this room.
    #[error("this device is banned from the room")]
    Banned,
    /// A new room password that the policy refuses.
    #[error("{0}")]
    WeakPassword(#[from] PolicyError),
    /// A room name that does not parse.
    #[error("room names are 1-64 of a-z 0-9 -")]
    InvalidRoomName,
    /// A list of breakout rooms too long, or naming a room twice.
    #[error("{0}")]
    BadBreakoutList(&'static str),
    /// A breakout room that is a live room (not one this room made) or another room's.
    #[error("a breakout room may not be a live room or another room's breakout room")]
    BreakoutRoomTaken,
    /// The server failed.
    #[error("{0}")]
    Internal(&'static str),
}

impl RoomError {
    /// The protocol code for the error.
    pub fn code(&self) -> ErrorCode {
        match self {
            RoomError::OutOfOrder(_) => ErrorCode::OutOfOrder,
            RoomError::InvalidMls(_) => ErrorCode::InvalidMlsMessage,
            RoomError::Forbidden | RoomError::NotPermitted(_) => ErrorCode::Forbidden,
            RoomError::UnknownParticipant => ErrorCode::UnknownParticipant,
            RoomError::Banned => ErrorCode::Banned,
            RoomError::WeakPassword(_) => ErrorCode::WeakPassword,
            RoomError::InvalidRoomName => ErrorCode::InvalidRoomName,
            RoomError::BadBreakoutList(_) => ErrorCode::Malformed,
            RoomError::BreakoutRoomTaken => ErrorCode::Forbidden,
            RoomError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// What stands between a joiner and the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Anyone may enter.
    Open,
    /// Nobody may enter.
    Locked,
    /// Whoever gives this password may enter.
    Password(StoredPassword),
}

/// A kicked, banned or denied participant: the caller removes it from the SFU; its connection
/// closes once the [`ServerMessage::Removed`] notice in `out` is sent.
#[derive(Debug)]
pub struct Removal {
    /// Messages to send: the removed participant's notice first, then the removal proposals
    /// and the new participant list for the others.
    pub out: Vec<Outgoing>,
    /// Why: a second denial from the lobby turns into a ban.
    pub reason: RemovalReason,
    /// The device key banned, if a ban found one (a participant that never uploaded a key
    /// package has none).
    pub banned_device: Option<Fingerprint>,
    /// The account banned, if a ban removed a signed-in participant.
    pub banned_account: Option<String>,
}

/// The settings an organisation's persistent room keeps between meetings (see
/// [`Room::kept`]); the lock and bans are the meeting's alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct KeptSettings {
    /// Joiners wait in the lobby.
    pub lobby: bool,
    /// Nobody joins before a moderator.
    pub wait_for_moderator: bool,
    /// What each role may do.
    pub permissions: Permissions,
}

/// Whether a participant is in the meeting or still in its lobby.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Admission {
    /// Waiting for a moderator; sees nothing of the room.
    Waiting,
    /// In. `by` is the moderator who admitted it from the lobby: its client, and only its,
    /// commits the Add. `None` when the room had no lobby (any member commits the Add).
    Admitted { by: Option<ParticipantId> },
}

struct CommitRequest {
    committer: ParticipantId,
    /// When a tick first saw the request.
    first_seen: Option<Instant>,
}

/// Someone arriving at the room, as the signalling layer knows them.
pub struct Newcomer {
    /// The name shown to others.
    pub display_name: DisplayName,
    /// The account it signed in with; `None` for a guest.
    pub account: Option<Account>,
    /// It says it came with the room link (`ClientMessage::Join::holds_link`).
    pub holds_link: bool,
    /// Its account's organisation role moderates every meeting it joins (owners and admins,
    /// while the organisation's settings say so).
    pub moderates_by_role: bool,
}

struct Participant {
    display_name: DisplayName,
    role: Role,
    /// It said it came with the room link (members add it without a moderator's admission).
    holds_link: bool,
    /// The account it signed in with; `None` for a guest.
    account: Option<Account>,
    /// Signature-key fingerprint: from the key package, or from the tree for the creator.
    fingerprint: Option<Fingerprint>,
    /// A key package waiting to be committed.
    key_package: Option<Vec<u8>>,
    /// Leaf index while a member of the group.
    leaf: Option<u32>,
    admission: Admission,
    /// A moderator muted it (the SFU forwards none of its audio).
    muted: bool,
    /// Its connection dropped and its session waits for a resume: it is not asked to commit.
    away: bool,
    /// In a breakout room: its id in the main room, whose session's end ends it here too.
    entered_with: Option<ParticipantId>,
}

impl Participant {
    fn is_admitted(&self) -> bool {
        self.admission != Admission::Waiting
    }

    fn info(&self, id: &ParticipantId) -> ParticipantInfo {
        ParticipantInfo {
            id: id.clone(),
            display_name: self.display_name.to_string(),
            role: self.role,
            fingerprint: self.fingerprint.map(|f| f.to_string()),
            muted: self.muted,
            account: self.account.as_ref().map(|a| a.username.clone()),
        }
    }
}

/// A room and its group's delivery service.
pub struct Room {
    name: RoomName,
    server: Arc<ExternalSender>,
    /// The server's external-sender key, encoded once for every [`ServerMessage::Joined`].
    external_sender: Bytes,
    /// In join order (ids are assigned increasing).
    participants: BTreeMap<u64, (ParticipantId, Participant)>,
    next_order: u64,
    /// The participant asked to create the group, until it uploads the GroupInfo.
    creator: Option<ParticipantId>,
    group: Option<ObservedGroup>,
    /// Leaves of members who left but are still in the tree: their removal must be committed.
    departed_leaves: Vec<u32>,
    /// A commit was requested and none accepted since: avoids asking twice, and lets
    /// [`Room::tick`] pass the request on if the member never answers.
    commit_request: Option<CommitRequest>,
    /// Members that let a request time out; asked again only when nobody else is left.
    unresponsive: Vec<ParticipantId>,
    locked: bool,
    password: Option<StoredPassword>,
    /// Signature-key fingerprints refused for the room's life.
    banned: HashSet<Fingerprint>,
    /// Accounts (by id) refused for the room's life.
    banned_accounts: HashSet<i64>,
    /// An organisation's persistent room: its settings are kept (see [`Room::kept`]).
    persistent: bool,
    /// Whether guests may moderate: a guest's join creates the room as its moderator, and
    /// moderation may pass to a guest. Off, only signed-in participants moderate, and guests
    /// wait while none is in the meeting.
    guests_moderate: bool,
    lobby: bool,
    /// Devices denied once from the lobby: a second denial bans.
    denied: HashSet<Fingerprint>,
    permissions: Permissions,
    wait_for_moderator: bool,
    /// Whoever joins with it enters as a moderator (see [`new_moderator_key`]).
    moderator_key: String,
    /// Participants let into the meeting since [`Room::take_newly_admitted`] last asked.
    newly_admitted: Vec<ParticipantId>,
    /// The numbered application messages, and the chat kept still encrypted.
    kept: KeptMessages,
    /// Tells this room from an earlier or later one of its name.
    instance: u64,
    /// The rooms its participants may break out into, while open.
    breakouts: Vec<RoomName>,
    /// For a breakout room: the room (name and instance) that made it.
    breakout_of: Option<(RoomName, u64)>,
}

/// 128 random bits, in hex. A new one whenever a moderator goes.
fn new_moderator_key() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Room {
    /// An empty room. `guests_moderate`: whether a guest who creates it moderates it, and
    /// moderation may pass to a guest (else only signed-in participants moderate, and guests
    /// wait while none is in the meeting).
    pub fn new(name: RoomName, server: Arc<ExternalSender>, guests_moderate: bool) -> Self {
        // Never an empty key: a group created without the server as external sender is refused.
        let external_sender = server
            .key()
            .expect("a device identity (credential name of at most 256 bytes) always encodes");
        Self {
            name,
            server,
            external_sender: Bytes(external_sender.0),
            participants: BTreeMap::new(),
            next_order: 0,
            creator: None,
            group: None,
            departed_leaves: Vec::new(),
            commit_request: None,
            unresponsive: Vec::new(),
            locked: false,
            password: None,
            banned: HashSet::new(),
            banned_accounts: HashSet::new(),
            guests_moderate,
            persistent: false,
            lobby: false,
            denied: HashSet::new(),
            permissions: Permissions::default(),
            wait_for_moderator: false,
            moderator_key: new_moderator_key(),
            newly_admitted: Vec::new(),
            kept: KeptMessages::default(),
            instance: rand::random(),
            breakouts: Vec::new(),
            breakout_of: None,
        }
    }

    /// Whether `key` is this room's moderator key (compared in constant time: a guesser learns
    /// nothing from how long a refusal took).
    pub fn is_moderator_key(&self, key: &str) -> bool {
        self.moderator_key.as_bytes().ct_eq(key.as_bytes()).into()
    }

    /// What a joiner must pass. The caller checks a password (slowly, off the lock) and calls
    /// [`Room::join`] only if the gate is still the one it checked.
    pub fn gate(&self) -> Gate {
        match (&self.locked, &self.password) {
            (true, _) => Gate::Locked,
            (false, Some(password)) => Gate::Password(password.clone()),
            (false, None) => Gate::Open,
        }
    }

    /// An organisation's persistent room, opening for a meeting with its kept settings and
    /// password.
    pub fn persistent(mut self, kept: KeptSettings, password: Option<StoredPassword>) -> Self {
        self.persistent = true;
        self.password = password;
        self.with_settings(kept)
    }

    /// The room opening with `settings`: a persistent room's kept ones, or the organisation's
    /// defaults for a new room.
    pub fn with_settings(mut self, settings: KeptSettings) -> Self {
        self.lobby = settings.lobby;
        self.wait_for_moderator = settings.wait_for_moderator;
        self.permissions = settings.permissions;
        self
    }

    /// What a persistent room keeps for its next meeting (`None` for a room that vanishes
    /// with its meeting).
    pub fn kept(&self) -> Option<(KeptSettings, Option<StoredPassword>)> {
        self.persistent.then(|| {
            (
                KeptSettings {
                    lobby: self.lobby,
                    wait_for_moderator: self.wait_for_moderator,
                    permissions: self.permissions,
                },
                self.password.clone(),
            )
        })
    }

    /// Whether the account was banned from this room.
    pub fn is_banned_account(&self, account: &Account) -> bool {
        self.banned_accounts.contains(&account.id)
    }

    /// Whether `id` is a moderator here.
    pub fn is_moderator(&self, id: &ParticipantId) -> bool {
        self.participant(id)
            .is_some_and(|p| p.role == Role::Moderator)
    }

    /// The room's name.
    pub fn name(&self) -> &RoomName {
        &self.name
    }

    /// Whether no one is left: the room should vanish.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Number of participants.
    pub fn len(&self) -> usize {
        self.participants.len()
    }

    /// The group's epoch, once there is a group.
    pub fn epoch(&self) -> Option<u64> {
        self.group.as_ref().map(ObservedGroup::epoch)
    }

    /// A guest with the room link enters (the caller has passed it through the [`Gate`]); see
    /// [`Room::join_signed_in`].
    pub fn join(&mut self, id: &ParticipantId, display_name: DisplayName) -> Vec<Outgoing> {
        let newcomer = Newcomer {
            display_name,
            account: None,
            holds_link: true,
            moderates_by_role: false,
        };
        self.join_signed_in(id, newcomer)
    }

    /// A participant enters, signed in or as a guest. The first one (or the first after the
    /// group was lost) creates the group; the others upload a key package and wait for a
    /// Welcome — in the lobby first, if the room has one or they came without the room link.
    /// The first signed-in participant while no moderator is in the meeting moderates; so does
    /// the room's creator where guests may moderate. Anyone else is a participant (signed in)
    /// or a guest.
    pub fn join_signed_in(&mut self, id: &ParticipantId, newcomer: Newcomer) -> Vec<Outgoing> {
        let role = match &newcomer.account {
            Some(_) if newcomer.moderates_by_role || !self.has_moderator_inside() => {
                Role::Moderator
            }
            Some(_) => Role::Participant,
            None if self.next_order == 0 && self.guests_moderate => Role::Moderator,
            None => Role::Guest,
        };
        if role == Role::Moderator {
            self.join_as_moderator(id, newcomer)
        } else {
            self.join_as(id, newcomer, role)
        }
    }

    /// A participant enters as a moderator: with the room's moderator key (the caller checked
    /// it with [`Room::is_moderator_key`]) or as the room's first. Past the lobby, if it holds
    /// the room link; whoever waits only for a moderator to arrive is then let in.
    pub fn join_as_moderator(&mut self, id: &ParticipantId, newcomer: Newcomer) -> Vec<Outgoing> {
        let waited_for_moderator = self.waits_for_moderator();
        let mut out = self.join_as(id, newcomer, Role::Moderator);
        let inside = self.participant(id).is_some_and(Participant::is_admitted);
        if inside && (!self.lobby || waited_for_moderator) {
            out.extend(self.release_waiters());
        }
        out.extend(self.lobby_for_moderators());
        out
    }

    /// Everyone waiting, now that a moderator is in or the lobby is off: with no lobby, those
    /// with the room link are let in; the others wait for a moderator's admission, since no
    /// member would add them.
    fn release_waiters(&mut self) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for pid in self.waiting() {
            let with_link = self.participant(&pid).is_some_and(|p| p.holds_link);
            if !self.lobby && with_link {
                out.extend(self.let_in(&pid, None));
            } else {
                let group = GroupAction::WaitInLobby;
                out.push((pid, ServerMessage::Waiting { group }));
            }
        }
        out
    }

    /// Whether a joiner who is no moderator must wait for one: the room asks it, or guests
    /// may not moderate; and no moderator is in the meeting.
    fn waits_for_moderator(&self) -> bool {
        (self.wait_for_moderator || !self.guests_moderate) && !self.has_moderator_inside()
    }

    /// Whether a moderator is in the meeting (not waiting).
    fn has_moderator_inside(&self) -> bool {
        self.participants
            .values()
            .any(|(_, p)| p.is_admitted() && p.role == Role::Moderator)
    }

    /// Tells everyone waiting what it waits for now.
    fn tell_waiters(&self, group: GroupAction) -> Vec<Outgoing> {
        self.waiting()
            .into_iter()
            .map(|pid| (pid, ServerMessage::Waiting { group }))
            .collect()
    }

    fn join_as(&mut self, id: &ParticipantId, newcomer: Newcomer, role: Role) -> Vec<Outgoing> {
        let wait = self.wait_on_joining(role, newcomer.holds_link);
        self.add(id, newcomer, role, wait)
    }

    /// What a joiner in `role` waits for before entering the meeting, if anything.
    fn wait_on_joining(&self, role: Role, holds_link: bool) -> Option<GroupAction> {
        // Without the link, nobody in the group may add it until a moderator admits it.
        let knocks = !holds_link && (self.group.is_some() || self.creator.is_some());
        if role == Role::Moderator && !knocks {
            None
        } else if role != Role::Moderator && self.waits_for_moderator() {
            Some(GroupAction::WaitForModerator)
        } else if self.lobby || knocks {
            Some(GroupAction::WaitInLobby)
        } else {
            None
        }
    }

    /// Adds a joiner in `role`: waiting (for `wait`), or in the meeting, where it creates the
    /// group or awaits its Welcome.
    fn add(
        &mut self,
        id: &ParticipantId,
        newcomer: Newcomer,
        role: Role,
        wait: Option<GroupAction>,
    ) -> Vec<Outgoing> {
        let order = self.next_order;
        self.next_order += 1;
        let Newcomer {
            display_name,
            account,
            holds_link,
            ..
        } = newcomer;
        let admission = if wait.is_some() {
            Admission::Waiting
        } else {
            Admission::Admitted { by: None }
        };
        self.participants.insert(
            order,
            (
                id.clone(),
                Participant {
                    display_name,
                    role,
                    holds_link,
                    account,
                    fingerprint: None,
                    key_package: None,
                    leaf: None,
                    admission,
                    muted: false,
                    away: false,
                    entered_with: None,
                },
            ),
        );
        if let Some(wait) = wait {
            // A knock: the joiner learns nothing of the room; moderators see it.
            let mut out = vec![self.joined(id, wait)];
            out.extend(self.lobby_for_moderators());
            return out;
        }
        let action = if self.group.is_none() && self.creator.is_none() {
            self.creator = Some(id.clone());
            GroupAction::CreateGroup
        } else {
            GroupAction::AwaitWelcome
        };
        let mut out = vec![self.joined(id, action)];
        out.extend(self.enter(id));
        out
    }

    /// What an admitted participant gets on entering, and what the others learn.
    fn enter(&mut self, id: &ParticipantId) -> Vec<Outgoing> {
        self.newly_admitted.push(id.clone());
        let mut out = vec![(id.clone(), self.settings())];
        out.extend(self.moderation_for(id));
        out.extend(self.participant_list());
        out
    }

    /// What a moderator needs: the moderator key and the lobby.
    fn moderation_for(&self, id: &ParticipantId) -> Vec<Outgoing> {
        if !self.is_moderator(id) {
            return Vec::new();
        }
        let key = ServerMessage::ModeratorKey {
            key: self.moderator_key.clone(),
        };
        let mut out = vec![(id.clone(), key)];
        out.extend(self.lobby_for(id));
        out
    }

    fn waiting(&self) -> Vec<ParticipantId> {
        self.participants
            .values()
            .filter(|(_, p)| !p.is_admitted())
            .map(|(pid, _)| pid.clone())
            .collect()
    }

    /// A moderator turns "nobody joins before a moderator" on or off.
    pub fn set_wait_for_moderator(
        &mut self,
        by: &ParticipantId,
        enabled: bool,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        self.wait_for_moderator = enabled;
        Ok(self.settings_for_everyone())
    }

    fn settings(&self) -> ServerMessage {
        ServerMessage::RoomSettings {
            locked: self.locked,
            password_required: self.password.is_some(),
            lobby: self.lobby,
            permissions: self.permissions,
            wait_for_moderator: self.wait_for_moderator,
        }
    }

    fn settings_for_everyone(&self) -> Vec<Outgoing> {
        let settings = self.settings();
        self.admitted().map(|pid| (pid, settings.clone())).collect()
    }

    /// Who waits in the lobby, for one participant if it is a moderator.
    fn lobby_for(&self, id: &ParticipantId) -> Option<Outgoing> {
        if !self.is_moderator(id) {
            return None;
        }
        let waiting = self
            .participants
            .values()
            .filter(|(_, p)| !p.is_admitted())
            .map(|(pid, p)| p.info(pid))
            .collect();
        Some((id.clone(), ServerMessage::Lobby { waiting }))
    }

    fn lobby_for_moderators(&self) -> Vec<Outgoing> {
        self.admitted()
            .filter_map(|pid| self.lobby_for(&pid))
            .collect()
    }

    /// A moderator turns the lobby on, or off: then everyone waiting is let in.
    pub fn set_lobby(
        &mut self,
        by: &ParticipantId,
        enabled: bool,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        self.lobby = enabled;
        let mut out = self.settings_for_everyone();
        if !enabled {
            out.extend(self.release_waiters());
            out.extend(self.lobby_for_moderators());
        }
        Ok(out)
    }

    /// A moderator admits a participant from the lobby. Its key package, once there, goes to
    /// this moderator's client alone to commit.
    pub fn admit(
        &mut self,
        by: &ParticipantId,
        target: &ParticipantId,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        if self
            .participant(target)
            .is_none_or(Participant::is_admitted)
        {
            return Err(RoomError::UnknownParticipant);
        }
        let mut out = self.let_in(target, Some(by.clone()));
        out.extend(self.lobby_for_moderators());
        Ok(out)
    }

    fn let_in(&mut self, id: &ParticipantId, by: Option<ParticipantId>) -> Vec<Outgoing> {
        let Some(participant) = self.participant_mut(id) else {
            return Vec::new();
        };
        participant.admission = Admission::Admitted { by };
        let mut out = self.enter(id);
        if self.group.is_none() && self.creator.is_none() {
            // Nobody holds a group (it was lost while this one waited): it founds one.
            out.extend(self.restart_group());
        } else {
            self.commit_request = None;
            out.extend(self.request_commit_if_needed());
        }
        out
    }

    /// A moderator turns a participant away from the lobby; the second time the same device
    /// is turned away in the room's life, it is banned.
    pub fn deny(
        &mut self,
        by: &ParticipantId,
        target: &ParticipantId,
    ) -> Result<Removal, RoomError> {
        self.require_moderator(by)?;
        let device = self
            .participant(target)
            .filter(|p| !p.is_admitted())
            .ok_or(RoomError::UnknownParticipant)?
            .fingerprint;
        let reason = match device {
            Some(device) if !self.denied.insert(device) => RemovalReason::Banned,
            _ => RemovalReason::Denied,
        };
        self.remove(by, target, reason)
    }

    /// A moderator mutes a participant: the caller stops the SFU forwarding its audio.
    pub fn mute(
        &mut self,
        by: &ParticipantId,
        target: &ParticipantId,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        self.set_muted(target, true)
    }

    /// A participant lifts a moderator's mute of itself.
    pub fn unmute(&mut self, id: &ParticipantId) -> Result<Vec<Outgoing>, RoomError> {
        self.set_muted(id, false)
    }

    fn set_muted(&mut self, id: &ParticipantId, muted: bool) -> Result<Vec<Outgoing>, RoomError> {
        let participant = self
            .participant_mut(id)
            .filter(|p| p.is_admitted())
            .ok_or(RoomError::UnknownParticipant)?;
        if std::mem::replace(&mut participant.muted, muted) == muted {
            // Nothing changed: nothing to tell everyone (a repeated unmute is no broadcast).
            return Ok(Vec::new());
        }
        Ok(self.participant_list())
    }

    /// The participant's connection dropped (`away`) or its session was resumed. A member away
    /// is passed over when someone must commit; a request it holds goes to another member.
    pub fn set_away(&mut self, id: &ParticipantId, away: bool) -> Vec<Outgoing> {
        let Some(participant) = self.participant_mut(id) else {
            return Vec::new();
        };
        participant.away = away;
        if away
            && self
                .commit_request
                .as_ref()
                .is_some_and(|r| &r.committer == id)
        {
            self.commit_request = None;
        }
        // Back, it may be the one to commit what waits; away, someone else may have to.
        self.request_commit_if_needed()
    }

    /// Whether `id` is in the room (in the meeting or its lobby).
    pub fn contains(&self, id: &ParticipantId) -> bool {
        self.participant(id).is_some()
    }

    /// Whether `id` is in the meeting (not in the lobby).
    pub fn is_admitted(&self, id: &ParticipantId) -> bool {
        self.participant(id).is_some_and(Participant::is_admitted)
    }

    /// Those let into the meeting since the last call, in order: the caller hands each what
    /// only the meeting's participants get from outside the room (TURN relays).
    pub fn take_newly_admitted(&mut self) -> Vec<ParticipantId> {
        std::mem::take(&mut self.newly_admitted)
    }

    /// Whether a moderator muted `id`.
    pub fn is_muted(&self, id: &ParticipantId) -> bool {
        self.participant(id).is_some_and(|p| p.muted)
    }

    /// A moderator sets what each role may do.
    pub fn set_permissions(
        &mut self,
        by: &ParticipantId,
        permissions: Permissions,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        self.permissions = permissions;
        Ok(self.settings_for_everyone())
    }

    /// Whether `id` may share its screen.
    pub fn may_share_screen(&self, id: &ParticipantId) -> bool {
        self.participant(id)
            .is_some_and(|p| self.permissions.screen_share.permits(p.role))
    }

    /// Whether `id` may send files: store them in the room's file store, as it may announce
    /// them to the group.
    pub fn may_send_files(&self, id: &ParticipantId) -> bool {
        self.may_send(id, ApplicationKind::File)
    }

    /// Whether `id` may record: store a recording, as it may announce one to the group.
    pub fn may_record(&self, id: &ParticipantId) -> bool {
        self.may_send(id, ApplicationKind::Recording)
    }

    fn may_send(&self, id: &ParticipantId, kind: ApplicationKind) -> bool {
        self.participant(id)
            .is_some_and(|p| self.permissions.for_application(kind).permits(p.role))
    }

    /// A moderator ends the meeting: everyone is told and the caller closes every connection
    /// and drops the room.
    pub fn end_meeting(&mut self, by: &ParticipantId) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        let out = self
            .participants
            .values()
            .map(|(pid, _)| {
                (
                    pid.clone(),
                    ServerMessage::Removed {
                        reason: RemovalReason::MeetingEnded,
                    },
                )
            })
            .collect();
        self.participants.clear();
        self.group = None;
        Ok(out)
    }

    /// Everyone in the room, in or waiting.
    pub fn participant_ids(&self) -> Vec<ParticipantId> {
        self.participants
            .values()
            .map(|(pid, _)| pid.clone())
            .collect()
    }

    fn require_moderator(&self, id: &ParticipantId) -> Result<(), RoomError> {
        if self.is_moderator(id) {
            Ok(())
        } else {
            Err(RoomError::Forbidden)
        }
    }

    /// A moderator locks (no new joiners at all) or unlocks the room.
    pub fn set_locked(
        &mut self,
        by: &ParticipantId,
        locked: bool,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        self.locked = locked;
        Ok(self.settings_for_everyone())
    }

    /// A moderator sets (already checked against the policy and hashed) or removes the
    /// password.
    pub fn set_password(
        &mut self,
        by: &ParticipantId,
        password: Option<StoredPassword>,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        self.password = password;
        Ok(self.settings_for_everyone())
    }

    /// A moderator makes another participant a moderator.
    pub fn grant_moderator(
        &mut self,
        by: &ParticipantId,
        target: &ParticipantId,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        self.participant_mut(target)
            .filter(|p| p.is_admitted())
            .ok_or(RoomError::UnknownParticipant)?
            .role = Role::Moderator;
        let mut out = self.participant_list();
        out.extend(self.moderation_for(target));
        Ok(out)
    }

    /// A moderator removes a participant: it is told, and its removal from the group is
    /// proposed at once, exactly as if it had left.
    pub fn kick(
        &mut self,
        by: &ParticipantId,
        target: &ParticipantId,
    ) -> Result<Removal, RoomError> {
        self.remove(by, target, RemovalReason::Kicked)
    }

    /// A kick that also refuses the participant's device key for the rest of the room's life.
    pub fn ban(
        &mut self,
        by: &ParticipantId,
        target: &ParticipantId,
    ) -> Result<Removal, RoomError> {
        self.remove(by, target, RemovalReason::Banned)
    }

    fn remove(
        &mut self,
        by: &ParticipantId,
        target: &ParticipantId,
        reason: RemovalReason,
    ) -> Result<Removal, RoomError> {
        self.require_moderator(by)?;
        if by == target {
            return Err(RoomError::OutOfOrder("to remove yourself, leave"));
        }
        let removed = self
            .participant(target)
            .ok_or(RoomError::UnknownParticipant)?;
        let (banned_device, banned_account) = if reason == RemovalReason::Banned {
            (removed.fingerprint, removed.account.clone())
        } else {
            (None, None)
        };
        self.banned.extend(banned_device);
        self.banned_accounts
            .extend(banned_account.as_ref().map(|a| a.id));
        Ok(Removal {
            out: self.removed(target, reason),
            reason,
            banned_device,
            banned_account: banned_account.map(|a| a.username),
        })
    }

    /// Tells `id` it is removed, and why; then it leaves, its removal from the group proposed.
    fn removed(&mut self, id: &ParticipantId, reason: RemovalReason) -> Vec<Outgoing> {
        let mut out = vec![(id.clone(), ServerMessage::Removed { reason })];
        out.extend(self.leave(id));
        out
    }

    fn joined(&self, id: &ParticipantId, group: GroupAction) -> Outgoing {
        (
            id.clone(),
            ServerMessage::Joined {
                participant_id: id.clone(),
                external_sender: self.external_sender.clone(),
                group,
            },
        )
    }

    /// The creator uploads its new group's GroupInfo. Refused unless the group lists the
    /// server, alone, as its external sender: without it no departed member could be removed.
    pub fn group_created(
        &mut self,
        id: &ParticipantId,
        group_info: &[u8],
    ) -> Result<Vec<Outgoing>, RoomError> {
        if self.creator.as_ref() != Some(id) {
            return Err(RoomError::OutOfOrder(
                "only the participant asked to create the group may",
            ));
        }
        let group = self.server.observe(group_info)?;
        let roster = group.roster();
        let [founder] = roster.as_slice() else {
            return Err(RoomError::OutOfOrder(
                "a new group must have exactly its creator",
            ));
        };
        let (leaf, fingerprint) = (founder.leaf_index, founder.fingerprint);
        if self.banned.contains(&fingerprint) {
            return Err(RoomError::Banned);
        }
        let participant = self
            .participant_mut(id)
            .ok_or(RoomError::OutOfOrder("not in the room"))?;
        participant.leaf = Some(leaf);
        participant.fingerprint = Some(fingerprint);
        self.group = Some(group);
        self.creator = None;
        // Everyone learns the founder's key fingerprint.
        let mut out = self.request_commit_if_needed();
        out.extend(self.participant_list());
        Ok(out)
    }

    /// A joiner uploads its key package.
    pub fn key_package(
        &mut self,
        id: &ParticipantId,
        key_package: Vec<u8>,
    ) -> Result<Vec<Outgoing>, RoomError> {
        let owner = self.server.validate_key_package(&key_package)?;
        if self.banned.contains(&owner.fingerprint) {
            return Err(RoomError::Banned);
        }
        let participant = self
            .participant_mut(id)
            .ok_or(RoomError::OutOfOrder("not in the room"))?;
        if participant.leaf.is_some() {
            return Err(RoomError::OutOfOrder("already a member"));
        }
        participant.fingerprint = Some(owner.fingerprint);
        participant.key_package = Some(key_package);
        if !participant.is_admitted() {
            // Moderators learn the knocking device's fingerprint: the one they admit.
            return Ok(self.lobby_for_moderators());
        }
        // A new joiner may need a commit even if one was requested for others before.
        self.commit_request = None;
        // Everyone learns the joiner's key fingerprint (and role) before a member is asked to
        // add it: in a lobby room a client adds a moderator it did not admit by that role.
        let mut out = self.participant_list();
        out.extend(self.request_commit_if_needed());
        Ok(out)
    }

    /// A member's commit: sequenced if it is valid for the current epoch, refused otherwise.
    pub fn commit(
        &mut self,
        id: &ParticipantId,
        commit: &[u8],
        welcome: Option<&[u8]>,
    ) -> Result<Vec<Outgoing>, RoomError> {
        let committer_is_member = self.is_member(id);
        let group = self
            .group
            .as_mut()
            .ok_or(RoomError::OutOfOrder("the room has no group yet"))?;
        if !committer_is_member {
            return Err(RoomError::OutOfOrder("only members commit"));
        }
        let before = self.lobby.then(|| group.clone());
        let epoch = match group.process(commit) {
            Ok(ObservedMessage::Commit { epoch }) => epoch,
            Ok(_) => return Err(RoomError::OutOfOrder("not a commit")),
            Err(GroupError::WrongEpoch { group_epoch, .. }) => {
                return Ok(vec![(
                    id.clone(),
                    ServerMessage::CommitRejected {
                        epoch: group_epoch,
                        code: ErrorCode::WrongEpoch,
                    },
                )]);
            }
            Err(error) => {
                let epoch = group.epoch();
                tracing::info!(room = %self.name, %error, "commit refused");
                return Ok(vec![(
                    id.clone(),
                    ServerMessage::CommitRejected {
                        epoch,
                        code: ErrorCode::InvalidMlsMessage,
                    },
                )]);
            }
        };
        if let Some(before) = before
            && let Err(refusal) = self.check_lobby_adds(id, &before)
        {
            tracing::warn!(room = %self.name, committer = %id, refusal, "commit refused");
            let group = self.group.insert(before);
            return Ok(vec![(
                id.clone(),
                ServerMessage::CommitRejected {
                    epoch: group.epoch(),
                    code: ErrorCode::Forbidden,
                },
            )]);
        }
        let Some(group) = self.group.as_ref() else {
            return Err(RoomError::Internal("the group vanished"));
        };
        self.commit_request = None;
        self.unresponsive.retain(|pid| pid != id);
        let roster = group.roster();
        let in_tree = |fingerprint: Fingerprint| {
            roster
                .iter()
                .find(|m| m.fingerprint == fingerprint)
                .map(|m| m.leaf_index)
        };

        let mut out = vec![(id.clone(), ServerMessage::CommitAccepted { epoch })];
        for (pid, participant) in self.participants.values_mut() {
            let now_leaf = participant.fingerprint.and_then(in_tree);
            let was_member = participant.leaf.is_some();
            if was_member && pid != id {
                // Members before the commit get it, including any it removes, so they learn.
                out.push((
                    pid.clone(),
                    ServerMessage::Commit {
                        commit: Bytes(commit.to_vec()),
                        epoch,
                    },
                ));
            }
            if !was_member
                && now_leaf.is_some()
                && participant.key_package.take().is_some()
                && let Some(welcome) = welcome
            {
                out.push((
                    pid.clone(),
                    ServerMessage::Welcome {
                        welcome: Bytes(welcome.to_vec()),
                    },
                ));
            }
            participant.leaf = now_leaf;
        }
        let tree_leaves: Vec<u32> = roster.iter().map(|m| m.leaf_index).collect();
        self.departed_leaves
            .retain(|leaf| tree_leaves.contains(leaf));
        out.extend(self.propose_departed_removals());
        out.extend(self.request_commit_if_needed());
        Ok(out)
    }

    /// In a lobby room, a commit may add only participants a moderator admitted, and only the
    /// admitting moderator may add them (the clients check the same and warn).
    fn check_lobby_adds(
        &self,
        committer: &ParticipantId,
        before: &ObservedGroup,
    ) -> Result<(), &'static str> {
        let (Some(after), before) = (self.group.as_ref(), before.roster()) else {
            return Ok(());
        };
        for added in after.roster().iter().filter(|m| {
            !before
                .iter()
                .any(|b| b.leaf_index == m.leaf_index && b.fingerprint == m.fingerprint)
        }) {
            let participant = self
                .participants
                .values()
                .find(|(_, p)| p.fingerprint == Some(added.fingerprint))
                .map(|(_, p)| p)
                .ok_or("it adds a device no participant uploaded")?;
            match &participant.admission {
                Admission::Waiting => return Err("it adds a participant still in the lobby"),
                Admission::Admitted { by: Some(by) } if by != committer => {
                    return Err("only the admitting moderator adds a participant");
                }
                Admission::Admitted { .. } => {}
            }
        }
        Ok(())
    }

    /// An MLS application message from a member, relayed to the other members.
    pub fn application(
        &mut self,
        id: &ParticipantId,
        message: &[u8],
    ) -> Result<Vec<Outgoing>, RoomError> {
        if !self.is_member(id) {
            return Err(RoomError::OutOfOrder(
                "only members send application messages",
            ));
        }
        let group = self
            .group
            .as_mut()
            .ok_or(RoomError::OutOfOrder("no group"))?;
        // Read, never applied: a commit sent as an application message must not move the
        // delivery service's epoch behind the members' backs (found by fuzzing). An encrypted
        // commit or proposal, which nobody could check before members apply it, is refused.
        let authenticated_data = group.application_data(message)?;
        let kind = ApplicationKind::from_label(&authenticated_data).ok_or(
            RoomError::OutOfOrder("an application message must carry its kind"),
        )?;
        let role = self.participant(id).map(|p| p.role).unwrap_or_default();
        if !self.permissions.for_application(kind).permits(role) {
            return Err(RoomError::NotPermitted(match kind {
                ApplicationKind::Control | ApplicationKind::Interaction => "send control messages",
                ApplicationKind::Chat => "chat",
                ApplicationKind::Poll => "open polls",
                ApplicationKind::File => "send files",
                ApplicationKind::Recording => "record",
                ApplicationKind::Breakout => "run breakout rooms",
            }));
        }
        let seq = self.kept.number();
        if kind == ApplicationKind::Chat {
            self.kept.keep(seq, id, message);
        }
        Ok(self
            .members_except(id)
            .map(|pid| {
                (
                    pid,
                    ServerMessage::Application {
                        message: Bytes(message.to_vec()),
                        number: seq,
                    },
                )
            })
            .collect())
    }

    /// A member asks for the kept chat numbered after `after` (it reconnected or reloaded).
    pub fn history(&self, id: &ParticipantId, after: u64) -> Result<Vec<Outgoing>, RoomError> {
        if !self.is_member(id) {
            return Err(RoomError::OutOfOrder(
                "only members read the room's history",
            ));
        }
        let (messages, more) = self.kept.after(after);
        Ok(vec![(
            id.clone(),
            ServerMessage::History { messages, more },
        )])
    }

    /// A participant left or its connection died. Its removal from the group is proposed, and a
    /// remaining member asked to commit it.
    pub fn leave(&mut self, id: &ParticipantId) -> Vec<Outgoing> {
        let Some(order) = self
            .participants
            .iter()
            .find_map(|(order, (pid, _))| (pid == id).then_some(*order))
        else {
            return Vec::new();
        };
        let Some((_, gone)) = self.participants.remove(&order) else {
            return Vec::new();
        };
        if self.creator.as_ref() == Some(id) {
            self.creator = None;
        }
        self.unresponsive.retain(|pid| pid != id);
        if let Some(leaf) = gone.leaf {
            self.departed_leaves.push(leaf);
        }
        if !gone.is_admitted() {
            return self.lobby_for_moderators();
        }
        // Those waiting for admission now wait for a moderator to come back.
        let mut out = if gone.role == Role::Moderator
            && self.wait_for_moderator
            && !self.has_moderator_inside()
        {
            self.tell_waiters(GroupAction::WaitForModerator)
        } else {
            Vec::new()
        };
        if self.admitted().next().is_none() && (self.wait_for_moderator || !self.guests_moderate) {
            // Those waiting wait on, for a moderator to come back; the group is gone.
            self.group = None;
            self.creator = None;
            self.departed_leaves.clear();
            self.commit_request = None;
            return out;
        }
        if self.admitted().next().is_none() {
            // Nobody is left in the meeting to admit those still waiting.
            out.extend(self.participants.values().map(|(pid, _)| {
                (
                    pid.clone(),
                    ServerMessage::Removed {
                        reason: RemovalReason::MeetingEnded,
                    },
                )
            }));
            self.participants.clear();
            return out;
        }
        for (_, p) in self.participants.values_mut() {
            if p.admission
                == (Admission::Admitted {
                    by: Some(id.clone()),
                })
                && p.leaf.is_none()
            {
                // Its admitter left before adding it: back to the lobby for another moderator.
                p.admission = Admission::Waiting;
            }
        }
        if gone.role == Role::Moderator {
            out.extend(self.moderator_left());
        }
        if self.members().next().is_none() {
            // Nobody left holds the group's keys: start over with a new group.
            out.extend(self.restart_group());
        } else {
            self.commit_request = None;
            out.extend(self.propose_departed_removals());
            out.extend(self.request_commit_if_needed());
        }
        out.extend(self.participant_list());
        out.extend(self.lobby_for_moderators());
        out
    }

    /// A moderator left, was kicked or banned. Unless the room waits for a moderator,
    /// moderation passes to the longest present participant who may moderate when nobody else
    /// does: a room is never left without someone able to unlock it. Whoever moderates now gets
    /// a new moderator key, so the one who went cannot come back as a moderator with the old
    /// one. With nobody moderating, the key stays: it is the host link a moderator comes back
    /// with, and nobody would hold a new one.
    fn moderator_left(&mut self) -> Vec<Outgoing> {
        if !self.wait_for_moderator && !self.has_moderator_inside() {
            let guests_moderate = self.guests_moderate;
            if let Some((_, longest_present)) = self
                .participants
                .values_mut()
                .find(|(_, p)| p.is_admitted() && (guests_moderate || p.role != Role::Guest))
            {
                longest_present.role = Role::Moderator;
            }
        }
        if !self.has_moderator_inside() {
            return Vec::new();
        }
        self.moderator_key = new_moderator_key();
        let key = ServerMessage::ModeratorKey {
            key: self.moderator_key.clone(),
        };
        self.participants
            .values()
            .filter(|(_, p)| p.role == Role::Moderator)
            .map(|(id, _)| (id.clone(), key.clone()))
            .collect()
    }

    fn restart_group(&mut self) -> Vec<Outgoing> {
        self.group = None;
        self.departed_leaves.clear();
        self.commit_request = None;
        let Some(first) = self.admitted().next() else {
            return Vec::new();
        };
        // Its key package was for the old group; it now founds the new one.
        if let Some(creator) = self.participant_mut(&first) {
            creator.key_package = None;
            creator.fingerprint = None;
        }
        self.creator = Some(first.clone());
        vec![self.joined(&first, GroupAction::CreateGroup)]
    }

    fn propose_departed_removals(&mut self) -> Vec<Outgoing> {
        let Some(group) = self.group.as_mut() else {
            return Vec::new();
        };
        let mut proposals = Vec::new();
        for &leaf in &self.departed_leaves {
            match group.propose_remove(leaf) {
                Ok(proposal) => proposals.push(proposal),
                Err(error) => {
                    tracing::warn!(room = %self.name, leaf, %error, "cannot propose removal")
                }
            }
        }
        let members: Vec<ParticipantId> = self.members().collect();
        proposals
            .into_iter()
            .flat_map(|proposal| {
                members.iter().map(move |pid| {
                    (
                        pid.clone(),
                        ServerMessage::Proposal {
                            proposal: Bytes(proposal.clone()),
                        },
                    )
                })
            })
            .collect()
    }

    /// Time passes: a member asked to commit that has not within `timeout` is passed over, and
    /// the next member is asked. Time only enters here; the first tick after a request starts
    /// its clock, so the timeout is exact to within the tick interval.
    pub fn tick(&mut self, now: Instant, timeout: Duration) -> Vec<Outgoing> {
        let Some(request) = self.commit_request.as_mut() else {
            return Vec::new();
        };
        match request.first_seen {
            None => {
                request.first_seen = Some(now);
                Vec::new()
            }
            Some(since) if now.saturating_duration_since(since) >= timeout => {
                tracing::warn!(room = %self.name, committer = %request.committer, "commit request timed out");
                let committer = request.committer.clone();
                self.commit_request = None;
                let mut out = Vec::new();
                let admitted_by_it = Admission::Admitted {
                    by: Some(committer.clone()),
                };
                let mut returned = false;
                for (_, p) in self.participants.values_mut() {
                    if p.admission == admitted_by_it && p.leaf.is_none() {
                        // Nobody else may add whom it admitted: back to the lobby.
                        p.admission = Admission::Waiting;
                        returned = true;
                    }
                }
                if returned {
                    out.extend(self.participant_list());
                    out.extend(self.lobby_for_moderators());
                }
                self.unresponsive.push(committer);
                out.extend(self.request_commit_if_needed());
                out
            }
            Some(_) => Vec::new(),
        }
    }

    /// Asks the member with the lowest leaf (passing over unresponsive ones while others are
    /// left) to commit pending joins and removals, if any.
    fn request_commit_if_needed(&mut self) -> Vec<Outgoing> {
        if self.group.is_none() || self.commit_request.is_some() {
            return Vec::new();
        }
        let pending = || {
            self.participants
                .values()
                .filter_map(|(_, p)| match &p.admission {
                    Admission::Admitted { by } => p.key_package.as_ref().map(|kp| (by, kp)),
                    Admission::Waiting => None,
                })
        };
        // Whom a moderator admitted from the lobby, its client alone adds.
        let admitter = pending().find_map(|(by, _)| by.clone().filter(|m| self.is_member(m)));
        let key_packages: Vec<Bytes> = pending()
            .filter(|(by, _)| **by == admitter)
            .map(|(_, kp)| Bytes(kp.clone()))
            .collect();
        if key_packages.is_empty() && self.departed_leaves.is_empty() {
            return Vec::new();
        }
        let members = || {
            self.participants
                .values()
                .filter(|(_, p)| !p.away)
                .filter_map(|(pid, p)| p.leaf.map(|leaf| (leaf, pid)))
        };
        // In a lobby room, members' clients expect adds from moderators: ask one if any is in.
        let order =
            |(leaf, pid): &(u32, &ParticipantId)| (self.lobby && !self.is_moderator(pid), *leaf);
        let Some(committer) = admitter.or_else(|| {
            members()
                .filter(|(_, pid)| !self.unresponsive.contains(pid))
                .min_by_key(order)
                .or_else(|| members().min_by_key(order))
                .map(|(_, pid)| pid.clone())
        }) else {
            return Vec::new();
        };
        self.commit_request = Some(CommitRequest {
            committer: committer.clone(),
            first_seen: None,
        });
        vec![(committer, ServerMessage::CommitRequested { key_packages })]
    }

    /// Who is in the meeting (not the lobby), for everyone in it.
    fn participant_list(&self) -> Vec<Outgoing> {
        let participants: Vec<ParticipantInfo> = self
            .participants
            .values()
            .filter(|(_, p)| p.is_admitted())
            .map(|(id, p)| p.info(id))
            .collect();
        self.admitted()
            .map(|id| {
                (
                    id,
                    ServerMessage::Participants {
                        participants: participants.clone(),
                    },
                )
            })
            .collect()
    }

    /// Participants in the meeting, in join order.
    fn admitted(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.participants
            .values()
            .filter(|(_, p)| p.is_admitted())
            .map(|(id, _)| id.clone())
    }

    fn members(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.participants
            .values()
            .filter(|(_, p)| p.leaf.is_some())
            .map(|(id, _)| id.clone())
    }

    fn members_except<'a>(
        &'a self,
        id: &'a ParticipantId,
    ) -> impl Iterator<Item = ParticipantId> + 'a {
        self.members().filter(move |pid| pid != id)
    }

    /// Whether `id` is a member of the room's MLS group, as the observed group says: it created
    /// the group, or a commit added it.
    pub fn is_member(&self, id: &ParticipantId) -> bool {
        self.participants
            .values()
            .any(|(pid, p)| pid == id && p.leaf.is_some())
    }

    fn participant(&self, id: &ParticipantId) -> Option<&Participant> {
        self.participants
            .values()
            .find_map(|(pid, p)| (pid == id).then_some(p))
    }

    fn participant_mut(&mut self, id: &ParticipantId) -> Option<&mut Participant> {
        self.participants
            .values_mut()
            .find_map(|(pid, p)| (pid == id).then_some(p))
    }
}

/// Breakout rooms: a room lists the rooms its participants may break out into; a breakout room
/// remembers the room that made it (that very room, not a later one of its name), whose
/// participants alone enter it, each in its role there (the signalling layer checks their
/// tickets).
impl Room {
    /// A moderator lists the room's breakout rooms, replacing any earlier list. `taken` says
    /// which names another room holds: a live room this room did not make, or another room's
    /// breakout room.
    pub fn open_breakouts(
        &mut self,
        by: &ParticipantId,
        names: &[String],
        taken: impl Fn(&RoomName) -> bool,
    ) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        if names.len() > MAX_BREAKOUT_ROOMS {
            return Err(RoomError::BadBreakoutList("too many breakout rooms"));
        }
        let mut breakouts = Vec::with_capacity(names.len());
        for name in names {
            let room = RoomName::parse(name).ok_or(RoomError::InvalidRoomName)?;
            if breakouts.contains(&room) {
                return Err(RoomError::BadBreakoutList(
                    "a breakout room is listed twice",
                ));
            }
            if room == self.name || taken(&room) {
                return Err(RoomError::BreakoutRoomTaken);
            }
            breakouts.push(room);
        }
        self.breakouts = breakouts;
        Ok(Vec::new())
    }

    /// A moderator closes the breakout rooms to newcomers; who is in one stays.
    pub fn close_breakouts(&mut self, by: &ParticipantId) -> Result<Vec<Outgoing>, RoomError> {
        self.require_moderator(by)?;
        self.breakouts.clear();
        Ok(Vec::new())
    }

    /// The breakout rooms open now.
    pub fn breakouts(&self) -> &[RoomName] {
        &self.breakouts
    }

    /// Whether `room` is one of the breakout rooms open now.
    pub fn lists_breakout(&self, room: &RoomName) -> bool {
        self.breakouts.contains(room)
    }

    /// Whether this room was made as a breakout room (of any room, gone or not).
    pub fn is_breakout(&self) -> bool {
        self.breakout_of.is_some()
    }

    /// Whether this room was made as a breakout room of `main`.
    pub fn is_breakout_of(&self, main: &Room) -> bool {
        self.breakout_of
            .as_ref()
            .is_some_and(|(name, instance)| *name == main.name && *instance == main.instance)
    }

    /// The name of the room that made this breakout room.
    pub fn opened_by(&self) -> Option<&RoomName> {
        self.breakout_of.as_ref().map(|(name, _)| name)
    }

    /// A new breakout room `name` of this room: under its permissions, its bans and its rule on
    /// guests moderating; with no lobby and nobody waiting for a moderator.
    pub fn breakout_room(&self, name: RoomName) -> Room {
        let mut room = Room::new(name, self.server.clone(), self.guests_moderate);
        room.permissions = self.permissions;
        room.banned = self.banned.clone();
        room.banned_accounts = self.banned_accounts.clone();
        room.breakout_of = Some((self.name.clone(), self.instance));
        room
    }

    /// `id`'s role, if it is in the meeting (not in the lobby).
    pub fn role_in_meeting(&self, id: &ParticipantId) -> Option<Role> {
        self.participant(id)
            .filter(|p| p.is_admitted())
            .map(|p| p.role)
    }

    /// A participant of the main room enters this breakout room with a ticket from its session
    /// there (`main_participant`), in its `role` there. It came with the breakout room's link
    /// and its role was settled in the main room: it never waits.
    pub fn join_breakout(
        &mut self,
        id: &ParticipantId,
        newcomer: Newcomer,
        role: Role,
        main_participant: ParticipantId,
    ) -> Vec<Outgoing> {
        let newcomer = Newcomer {
            holds_link: true,
            ..newcomer
        };
        let out = self.add(id, newcomer, role, None);
        if let Some(participant) = self.participant_mut(id) {
            participant.entered_with = Some(main_participant);
        }
        out
    }

    /// The main room's participant `main_participant` left it for good: whoever entered this
    /// breakout room with its ticket is removed, as a kick removes. Returns whom, and the
    /// messages.
    pub fn remove_entered_with(
        &mut self,
        main_participant: &ParticipantId,
        reason: RemovalReason,
    ) -> (Vec<ParticipantId>, Vec<Outgoing>) {
        let gone: Vec<ParticipantId> = self
            .participants
            .values()
            .filter(|(_, p)| p.entered_with.as_ref() == Some(main_participant))
            .map(|(pid, _)| pid.clone())
            .collect();
        let out = gone
            .iter()
            .flat_map(|pid| self.removed(pid, reason))
            .collect();
        (gone, out)
    }
}
