//! An in-memory meeting: participants' cores wired to a delivery service played by the test,
//! with no socket and no clock. The honest delivery service follows the group's public state
//! with the real `ExternalSender`, sequences one commit per epoch and relays it; a test that
//! plays a malicious server sends the cores what it likes instead.

use sealroom_e2ee::{DeviceIdentity, ExternalSender, LinkSecret, ObservedGroup, ObservedMessage};
use sealroom_participant::{ChatEntry, Epoch, Notice, Output, Participant};
use sealroom_protocol::{
    Bytes, ClientMessage, GroupAction, ParticipantInfo, Permissions, Role, ServerMessage,
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
    let link = members[0]
        .screen
        .room_link
        .clone()
        .expect("Alice made a link");
    for (id, name) in [("p2", "bob"), ("p3", "carol")] {
        let mut joiner = Member::with_link(id, name, Some(&link));
        let key_package = ds.key_package(&mut joiner, GroupAction::AwaitWelcome);
        assert!(ds.request_commit(0, vec![key_package], &mut members, &mut [&mut joiner]));
        members.push(joiner);
    }
    (ds, members)
}
