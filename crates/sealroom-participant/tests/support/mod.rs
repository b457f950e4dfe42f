//! An in-memory meeting: participants' cores wired to a delivery service played by the test,
//! with no socket and no clock. The honest delivery service follows the group's public state
//! with the real `ExternalSender`, sequences one commit per epoch and relays it; a test that
//! plays a malicious server sends the cores what it likes instead.

use std::collections::BTreeMap;

use sealroom_e2ee::{
    Device, DeviceIdentity, ExternalSender, GroupSession, LinkSecret, ObservedGroup,
    ObservedMessage, OrgKey,
};
use sealroom_participant::{
    ActiveRecording, BreakoutNotice, BreakoutView, ChatEntry, Epoch, FileEntry, Notice, Output,
    Participant, PollView, RaisedHand, Reaction,
};
use sealroom_protocol::{
    Bytes, ClientMessage, GroupAction, ParticipantInfo, Permissions, PollRef, Role, ServerMessage,
};

/// What one participant's core said, kept for the test to read.
#[derive(Default)]
pub struct Screen {
    pub epochs: Vec<Epoch>,
    pub notices: Vec<Notice>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    pub removed: bool,
    /// The room link the core made when it founded the group.
    pub room_link: Option<String>,
    pub chat: Vec<ChatEntry>,
    /// History messages the core said it could not decrypt.
    pub unreadable: u64,
    /// The raised hands, as last shown.
    pub hands: Vec<RaisedHand>,
    pub reactions: Vec<Reaction>,
    /// Each poll as last shown.
    pub polls: BTreeMap<PollRef, PollView>,
    pub files: Vec<FileEntry>,
    /// The recordings under way, as last shown.
    pub recordings: Vec<ActiveRecording>,
    /// The breakout rooms, as last shown (`None`: none open).
    pub breakouts: Option<BreakoutView>,
    pub breakout_notices: Vec<BreakoutNotice>,
    /// Organisation keys the core asked to pin.
    pub org_pins: Vec<OrgKey>,
    /// Organisation key changes the core reported: (pinned, presented).
    pub org_key_changes: Vec<(OrgKey, OrgKey)>,
}

impl Screen {
    pub fn epoch(&self) -> &Epoch {
        self.epochs.last().expect("in the group")
    }

    pub fn code(&self) -> String {
        self.epoch().security_code.digits()
    }

    pub fn roster_names(&self) -> Vec<String> {
        let roster = &self.epoch().roster;
        roster.iter().map(|m| m.credential_name.clone()).collect()
    }

    pub fn hand_names(&self) -> Vec<&str> {
        self.hands.iter().map(|h| h.name.as_str()).collect()
    }
}

pub struct Member {
    pub id: String,
    pub name: String,
    pub core: Participant,
    pub screen: Screen,
    /// Messages the core sent that the delivery service has not taken yet.
    pub outbox: Vec<ClientMessage>,
}

impl Member {
    pub fn new(id: &str, name: &str) -> Self {
        Self::with_link(id, name, None)
    }

    /// A member who came with the room link whose secret is `link`.
    pub fn with_link(id: &str, name: &str, link: Option<&str>) -> Self {
        let link = link.map(|text| LinkSecret::parse(text).unwrap());
        Self {
            id: id.into(),
            name: name.into(),
            core: Participant::new(DeviceIdentity::generate(name).unwrap(), link),
            screen: Screen::default(),
            outbox: Vec::new(),
        }
    }

    /// Hands the core a message and collects what it says.
    pub fn hear(&mut self, message: &ServerMessage) {
        self.core.handle_message(message);
        self.drain();
    }

    pub fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Send(message) => self.outbox.push(message),
                Output::Epoch(epoch) => self.screen.epochs.push(*epoch),
                Output::Removed => self.screen.removed = true,
                Output::Notice(notice) => self.screen.notices.push(notice),
                Output::Warning(text) => self.screen.warnings.push(text),
                Output::Error(text) => self.screen.errors.push(text),
                Output::Application(_) => {}
                Output::Chat(entry) => self.screen.chat.push(entry),
                Output::ChatUnreadable(count) => self.screen.unreadable += count,
                Output::RoomLink(secret) => self.screen.room_link = Some(secret),
                Output::Hands(hands) => self.screen.hands = hands,
                Output::Reaction(reaction) => self.screen.reactions.push(reaction),
                Output::Poll(view) => {
                    self.screen.polls.insert(view.poll, *view);
                }
                Output::File(entry) => self.screen.files.push(entry),
                Output::Recordings(recordings) => self.screen.recordings = recordings,
                Output::Breakouts(view) => self.screen.breakouts = view.map(|v| *v),
                Output::Breakout(notice) => self.screen.breakout_notices.push(notice),
                Output::PinOrganisationKey(key) => self.screen.org_pins.push(key),
                Output::OrganisationKeyChanged { pinned, presented } => {
                    self.screen.org_key_changes.push((pinned, presented))
                }
            }
        }
    }

    /// The first message of the wanted kind the core sent, taken out of the outbox.
    pub fn take<T>(&mut self, pick: impl Fn(&ClientMessage) -> Option<T>) -> Option<T> {
        let index = self.outbox.iter().position(|m| pick(m).is_some())?;
        pick(&self.outbox.remove(index))
    }

    pub fn info(&self, role: Role) -> ParticipantInfo {
        ParticipantInfo {
            id: self.id.clone(),
            display_name: self.name.clone(),
            role,
            fingerprint: Some(self.core.fingerprint().to_string()),
            muted: false,
            account: None,
        }
    }
}

/// The delivery service's view of one room's group.
pub struct DeliveryService {
    pub server: ExternalSender,
    pub group: Option<ObservedGroup>,
}

impl DeliveryService {
    pub fn new() -> Self {
        Self {
            server: ExternalSender::new(DeviceIdentity::generate("delivery-service").unwrap()),
            group: None,
        }
    }

    pub fn joined(&self, member: &Member, group: GroupAction) -> ServerMessage {
        ServerMessage::Joined {
            participant_id: member.id.clone(),
            external_sender: Bytes(self.server.key().unwrap().0),
            group,
        }
    }

    /// The founder creates the group; the service starts following it.
    pub fn found(&mut self, founder: &mut Member) {
        founder.hear(&self.joined(founder, GroupAction::CreateGroup));
        let info = founder
            .take(|m| match m {
                ClientMessage::GroupCreated { group_info } => Some(group_info.clone()),
                _ => None,
            })
            .expect("a group info");
        self.group = Some(self.server.observe(info.as_ref()).unwrap());
    }

    /// A joiner's key package, as it uploads it after `joined`.
    pub fn key_package(&self, joiner: &mut Member, action: GroupAction) -> Bytes {
        joiner.hear(&self.joined(joiner, action));
        joiner
            .take(|m| match m {
                ClientMessage::KeyPackage { key_package } => Some(key_package.clone()),
                _ => None,
            })
            .expect("a key package")
    }

    /// A joiner who comes with the room link Alice (`members[0]`) made, added by her commit.
    pub fn join_with_link(&mut self, members: &mut Vec<Member>, id: &str, name: &str) {
        let link = members[0]
            .screen
            .room_link
            .clone()
            .expect("Alice made a link");
        let mut joiner = Member::with_link(id, name, Some(&link));
        let key_package = self.key_package(&mut joiner, GroupAction::AwaitWelcome);
        assert!(self.request_commit(0, vec![key_package], members, &mut [&mut joiner]));
        members.push(joiner);
    }

    /// A member with the room link whose group session the test holds itself, without a
    /// core: to read what is on the wire, and to send what no honest core would.
    pub fn join_raw(&mut self, members: &mut [Member], name: &str) -> GroupSession {
        let link = members[0]
            .screen
            .room_link
            .as_deref()
            .expect("Alice made a link");
        let device = Device::new(DeviceIdentity::generate(name).unwrap());
        let key_package = device
            .key_package_with_link(&LinkSecret::parse(link).unwrap())
            .unwrap();
        members[0].hear(&ServerMessage::CommitRequested {
            key_packages: vec![Bytes(key_package)],
        });
        let welcome = members[0].outbox.iter().find_map(|m| match m {
            ClientMessage::Commit { welcome, .. } => welcome.clone(),
            _ => None,
        });
        let welcome = welcome.expect("a Welcome");
        assert!(self.sequence(0, members, &mut []));
        device.join_group(welcome.as_ref()).unwrap()
    }

    /// The member at `index` leaves: the service proposes its removal, and Alice
    /// (`members[0]`) commits it.
    pub fn leave(&mut self, members: &mut Vec<Member>, index: usize) -> Member {
        let gone = members.remove(index);
        let group = self.group.as_mut().expect("a group");
        let proposal = Bytes(group.propose_remove(gone.screen.epoch().own_leaf).unwrap());
        for member in members.iter_mut() {
            member.hear(&ServerMessage::Proposal {
                proposal: proposal.clone(),
            });
        }
        assert!(self.request_commit(0, Vec::new(), members, &mut []));
        gone
    }

    /// Asks `committer` to commit the key packages; sequences its commit, relays it to the
    /// others and the Welcome to `joiners`. False if it sent no commit.
    pub fn request_commit(
        &mut self,
        committer: usize,
        key_packages: Vec<Bytes>,
        members: &mut [Member],
        joiners: &mut [&mut Member],
    ) -> bool {
        members[committer].hear(&ServerMessage::CommitRequested { key_packages });
        self.sequence(committer, members, joiners)
    }

    /// Sequences the commit `committer` sent, relays it to the others and its Welcome, if
    /// any, to `joiners`. False if it sent no commit.
    pub fn sequence(
        &mut self,
        committer: usize,
        members: &mut [Member],
        joiners: &mut [&mut Member],
    ) -> bool {
        let Some((commit, welcome)) = members[committer].take(|m| match m {
            ClientMessage::Commit {
                commit, welcome, ..
            } => Some((commit.clone(), welcome.clone())),
            _ => None,
        }) else {
            return false;
        };
        let group = self.group.as_mut().expect("a group");
        let epoch = match group.process(commit.as_ref()).unwrap() {
            ObservedMessage::Commit { epoch } => epoch,
            other => panic!("not a commit: {other:?}"),
        };
        for (index, member) in members.iter_mut().enumerate() {
            let message = if index == committer {
                ServerMessage::CommitAccepted { epoch }
            } else {
                ServerMessage::Commit {
                    commit: commit.clone(),
                    epoch,
                }
            };
            member.hear(&message);
        }
        for joiner in joiners {
            joiner.hear(&ServerMessage::Welcome {
                welcome: welcome.clone().expect("a Welcome"),
            });
        }
        true
    }
}

/// Tells every member who the server says is in the room.
pub fn list(members: &mut [Member], roles: &[Role]) {
    let participants: Vec<ParticipantInfo> = members
        .iter()
        .zip(roles)
        .map(|(m, role)| m.info(*role))
        .collect();
    for member in members {
        member.hear(&ServerMessage::Participants {
            participants: participants.clone(),
        });
    }
}

/// Tells every member the room's lobby setting.
pub fn settings(members: &mut [Member], lobby: bool) {
    for member in members {
        member.hear(&ServerMessage::RoomSettings {
            locked: false,
            password_required: false,
            lobby,
            permissions: Permissions::default(),
            wait_for_moderator: false,
        });
    }
}

/// Alice opens the room by typing its name, so her client makes a room link as it founds the
/// group; Bob, then Carol, come with that link and join through commits of Alice's.
pub fn meeting_of_three() -> (DeliveryService, Vec<Member>) {
    let mut ds = DeliveryService::new();
    let mut members = vec![Member::new("p1", "alice")];
    ds.found(&mut members[0]);
    ds.join_with_link(&mut members, "p2", "bob");
    ds.join_with_link(&mut members, "p3", "carol");
    (ds, members)
}

/// What `sender` just sent as an application message.
pub fn sent(sender: &mut Member) -> Bytes {
    sender.take(application).expect("an application message")
}

fn application(message: &ClientMessage) -> Option<Bytes> {
    match message {
        ClientMessage::Application { message } => Some(message.clone()),
        _ => None,
    }
}

pub fn relay(message: &Bytes, seq: u64, to: &mut [&mut Member]) {
    for member in to {
        member.hear(&ServerMessage::Application {
            message: message.clone(),
            number: seq,
        });
    }
}

/// Relays each application message members send to all the others, unnumbered, until nobody
/// has more to say (a vote makes its poll's creator publish results).
pub fn deliver(members: &mut [Member]) {
    let mut relayed = true;
    while relayed {
        relayed = false;
        for from in 0..members.len() {
            while let Some(message) = members[from].take(application) {
                let others = members.iter_mut().enumerate().filter(|(i, _)| *i != from);
                for (_, member) in others {
                    relay(&message, 0, &mut [member]);
                }
                relayed = true;
            }
        }
    }
}

pub fn leaf_of(members: &[Member], index: usize) -> u32 {
    members[index].screen.epoch().own_leaf
}
