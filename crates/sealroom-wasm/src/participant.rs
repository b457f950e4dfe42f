//! `Participant`: the meeting's MLS side for the page — the same sans-IO core the native client
//! runs ([`sealroom_participant::Participant`]). The page passes every server message in and
//! carries out what `pollOutput` returns; no MLS rule lives in TypeScript.

use sealroom_e2ee::{DeviceIdentity, LinkSecret, OrgKey, RoomPolicy};
use sealroom_participant::{
    ActiveRecording, BreakoutNotice, BreakoutView, ChatEntry, CommandError, Epoch, FileEntry,
    Notice, Output, PollView, RaisedHand, Reaction, ResultsView,
};
use sealroom_protocol::{
    ApplicationKind, Assignment, Bytes, ClientMessage, FileOffer, PollRef, ResultsFor,
    ServerMessage, decode,
};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::{
    device::org_binding,
    error::{INVALID_ARGUMENT, group_error, js_error},
    file_crypto::file_size,
    group::{epoch_change, roster_member},
    js_object::{JsObject, array, bytes},
};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** What the page is to do next, in order. `send`: a client message (the page numbers and sends
 *  it). `epoch`: hand `baseKey` to the frame worker (transferred) and show the roster and code.
 *  `notice`: a member joined or left the encrypted group. `roomLink`: the room link's secret is
 *  new. `warning`: a security problem for the user. `error`: a message that could not be
 *  handled. `hands`: the raised hands, whole, in the order they went up. `reaction`: a member
 *  (or we) reacted. `poll`: one poll, whole, each time it changes. `file`: a member offered a
 *  file. `recordings`: the recordings under way, whole, each time that changes. */
export type ParticipantOutput =
  | { kind: 'send', message: any }
  | { kind: 'epoch', epoch: bigint, groupId: Uint8Array, ownLeaf: number, roster: RosterMember[], code: SecurityCode, baseKey: Uint8Array, change: EpochChange | null, policy: RoomPolicy }
  | { kind: 'removed' }
  | { kind: 'notice', change: 'joined' | 'left', member: RosterMember }
  | { kind: 'roomLink', secret: string }
  | { kind: 'pinOrganisationKey', key: Uint8Array, fingerprint: string }
  | { kind: 'organisationKeyChanged', pinned: string, presented: string }
  | { kind: 'warning', text: string }
  | { kind: 'error', text: string }
  | { kind: 'application', sender: number, applicationKind: string | null, data: Uint8Array }
  | { kind: 'chat', entry: ChatEntry }
  | { kind: 'chatUnreadable', count: number }
  | { kind: 'hands', hands: RaisedHand[] }
  | { kind: 'reaction', reaction: Reaction }
  | { kind: 'poll', poll: PollView }
  | { kind: 'file', file: FileEntry }
  | { kind: 'recordings', recordings: ActiveRecording[] }
  | { kind: 'breakouts', breakouts: BreakoutView | null }
  | { kind: 'breakoutBroadcast', from: string, text: string }
  | { kind: 'helpWanted', from: string, room: string };

/** The breakout rooms open: each room's `label`, server `room` and `link` secret (its own
 *  encrypted group), the room we are sent to (`ownRoom`, by index), whether the others choose,
 *  when everyone is called back (`endsAt`, ms), and who goes where, by name. */
export interface BreakoutView { id: number, openedBy: string, rooms: { label: string, room: string, link: string }[], ownRoom: number | null, choose: boolean, endsAt: number | null, assigned: [string, number][] }

/** A recording under way: `recorderName` from the recorder's MLS credential, `owners` the
 *  fingerprints of the keys that can open it, `mine` if we record it. */
export interface ActiveRecording { leaf: number, recorderName: string, id: string, owners: string[], mine: boolean }

/** A chat message from a member. `seq`: its number in the room. `senderName`: from the
 *  sender's MLS credential. `private`: sealed to us alone. `sentAt`: ms since the Unix epoch,
 *  by the sender's clock. */
export interface ChatEntry { seq: number, sender: number, senderName: string, private: boolean, text: string, sentAt: number }

/** A file a member offered. `seq`: its number in the room. `senderName`: from the sender's MLS
 *  credential. `blob`: the server's id of the encrypted file, `size` its plaintext size, `mime`
 *  a hint (possibly empty). Open it with `new FileDecryptor(key, size)` and check it with
 *  `finish(sha256)`. */
export interface FileEntry { seq: number, sender: number, senderName: string, blob: string, name: string, size: number, mime: string, key: Uint8Array, sha256: Uint8Array }

/** A member whose hand is up; `name` from its MLS credential. */
export interface RaisedHand { leaf: number, name: string }

/** A reaction, one of the set clients show; ours too. */
export interface Reaction { sender: number, senderName: string, emoji: string }

/** A poll, named by its creator's leaf and the creator's number `id`. `mine`: we created it.
 *  `ownChoices`: the answers we chose, by index. `results`: null unless we may read them. */
export interface PollView { creator: number, id: number, creatorName: string, question: string, options: string[], multiple: boolean, anonymous: boolean, resultsFor: 'everyone' | 'moderators', mine: boolean, ownChoices: number[], results: PollResultsView | null, closed: boolean }

/** Votes per answer, how many voted, and (unless anonymous) who chose each answer, by name. */
export interface PollResultsView { counts: number[], voters: number, named: string[][] }

/** The room policy in the group context: whether joiners need a moderator's admission, and
 *  the key fingerprints of the moderators. */
export interface RoomPolicy { lobby: boolean, moderators: string[] }
"#;

/// One participant's side of a meeting: its device, its group, and the rules.
#[wasm_bindgen]
pub struct Participant {
    core: sealroom_participant::Participant,
}

#[wasm_bindgen]
impl Participant {
    /// A participant for the credential `name`, signing with the device key `deviceSecret`
    /// (from `newDeviceSecret`, kept by the page) or, without one, a fresh key; holding the
    /// secret of the room link it came with (the `k=` of the link's fragment), if it did.
    #[wasm_bindgen(constructor)]
    pub fn new(
        name: &str,
        link: Option<String>,
        #[wasm_bindgen(js_name = deviceSecret)] device_secret: Option<Vec<u8>>,
    ) -> Result<Participant, JsValue> {
        let device_secret = device_secret.map(Zeroizing::new);
        let identity = match &device_secret {
            Some(secret) => DeviceIdentity::from_secret_bytes(name, secret),
            None => DeviceIdentity::generate(name),
        }
        .map_err(group_error)?;
        let link = link
            .as_deref()
            .map(LinkSecret::parse)
            .transpose()
            .map_err(group_error)?;
        Ok(Self {
            core: sealroom_participant::Participant::new(identity, link),
        })
    }

    /// A new device signature key, for the page to keep (wrapped) across meetings.
    #[wasm_bindgen(js_name = newDeviceSecret)]
    pub fn new_device_secret() -> Result<js_sys::Uint8Array, JsValue> {
        // The name is not part of the key: each join binds the key to its own name.
        let identity = DeviceIdentity::generate("device").map_err(group_error)?;
        Ok(bytes(&identity.to_secret_bytes()))
    }

    /// A fresh secret for a new room's link (`k=` in its fragment).
    #[wasm_bindgen(js_name = newLinkSecret)]
    pub fn new_link_secret() -> Result<String, JsValue> {
        LinkSecret::generate()
            .map(|secret| secret.to_text())
            .map_err(group_error)
    }

    /// Our device key's fingerprint, as rosters and the lobby show it.
    pub fn fingerprint(&self) -> String {
        self.core.fingerprint().to_string()
    }

    /// Our device's MLS signature public key, for `POST /api/account/identity-binding`.
    #[wasm_bindgen(js_name = devicePublicKey)]
    pub fn device_public_key(&self) -> Vec<u8> {
        self.core.device_public_key().to_vec()
    }

    /// The organisation binding the server signed for our device (its bytes), for our leaf:
    /// set it before joining.
    #[wasm_bindgen(js_name = setOrgBinding)]
    pub fn set_org_binding(&mut self, binding: &[u8]) -> Result<(), JsValue> {
        let binding = org_binding(binding)?;
        self.core.set_org_binding(binding).map_err(command_error)
    }

    /// The organisation key the server presents (`GET /api/org/identity-key`) and the one the
    /// page pinned for this server, if any: a first key comes back as `pinOrganisationKey` to
    /// keep, a different one as `organisationKeyChanged` (not trusted). Before joining.
    #[wasm_bindgen(js_name = handleOrganisationKey)]
    pub fn handle_organisation_key(
        &mut self,
        pinned: Option<Vec<u8>>,
        presented: &[u8],
    ) -> Result<(), JsValue> {
        let key = |bytes: &[u8]| {
            OrgKey::from_bytes(bytes)
                .ok_or_else(|| js_error(INVALID_ARGUMENT, "not an organisation key"))
        };
        let pinned = pinned.as_deref().map(key).transpose()?;
        self.core.handle_organisation_key(pinned, key(presented)?);
        Ok(())
    }

    /// Now, in seconds since the Unix epoch: bindings expire against it.
    #[wasm_bindgen(js_name = handleTime)]
    pub fn handle_time(&mut self, now_secs: f64) {
        self.core.handle_time(now_secs as u64);
    }

    /// Whether we are a member of the encrypted group.
    #[wasm_bindgen(js_name = isMember)]
    pub fn is_member(&self) -> bool {
        self.core.is_member()
    }

    /// The name last seen at a leaf, for frames from members who already left.
    #[wasm_bindgen(js_name = nameAtLeaf)]
    pub fn name_at_leaf(&self, leaf: u32) -> Option<String> {
        self.core.name_at_leaf(leaf).map(str::to_owned)
    }

    /// Members of the encrypted group whom the server does not list: ghosts to flag.
    #[wasm_bindgen(js_name = unlistedMembers, unchecked_return_type = "RosterMember[]")]
    pub fn unlisted_members(&self) -> JsValue {
        array(self.core.unlisted_members().iter().map(roster_member)).into()
    }

    /// Takes a server message, as the JSON text the server sent (strictly decoded).
    #[wasm_bindgen(js_name = handleMessage)]
    pub fn handle_message(&mut self, text: &str) -> Result<(), JsValue> {
        let message: ServerMessage = decode(text).map_err(|e| js_error(INVALID_ARGUMENT, e))?;
        self.core.handle_message(&message);
        Ok(())
    }

    /// Our user admits the participant from the lobby.
    pub fn admit(
        &mut self,
        #[wasm_bindgen(js_name = participantId)] participant_id: &str,
    ) -> Result<(), JsValue> {
        self.core
            .admit(&participant_id.to_owned())
            .map_err(|e| js_error("unknown_waiter", e))
    }

    /// Our user turns the lobby on or off: the server is told, and, if we moderate the room
    /// link's group, its policy follows by our commit.
    #[wasm_bindgen(js_name = setLobby)]
    pub fn set_lobby(&mut self, enabled: bool) {
        self.core.set_lobby(enabled);
    }

    /// Our user, a moderator, replaces the room link (see `Participant::rotate_link`); throws
    /// `not_moderator` unless the room policy names our key.
    #[wasm_bindgen(js_name = rotateLink)]
    pub fn rotate_link(&mut self) -> Result<(), JsValue> {
        self.core.rotate_link().map_err(|e| match e {
            CommandError::NotModerator => js_error("not_moderator", e),
            e => js_error("not_rotated", e),
        })
    }

    /// Commits a self-update (post-compromise security).
    #[wasm_bindgen(js_name = selfUpdate)]
    pub fn self_update(&mut self) {
        self.core.self_update();
    }

    /// Encrypts `data` for the group as an application message of `kind` (`chat`, `file`, …).
    #[wasm_bindgen(js_name = sendApplication)]
    pub fn send_application(&mut self, kind: &str, data: &[u8]) -> Result<(), JsValue> {
        let kind = ApplicationKind::from_label(format!("sealroom/{kind}").as_bytes())
            .ok_or_else(|| js_error(INVALID_ARGUMENT, format!("no application kind {kind:?}")))?;
        self.core
            .send_application(kind, data)
            .map_err(|e| js_error("not_sent", e))
    }

    /// Sends a chat message: to everyone, or sealed to the member at leaf `to` alone. `sentAt`
    /// is now, in ms since the Unix epoch.
    #[wasm_bindgen(js_name = sendChat)]
    pub fn send_chat(
        &mut self,
        text: &str,
        to: Option<u32>,
        #[wasm_bindgen(js_name = sentAt)] sent_at: f64,
    ) -> Result<(), JsValue> {
        self.core
            .send_chat(text, to, sent_at as u64)
            .map_err(command_error)
    }

    /// The page came back holding the chat of the group `groupId` up to number `after`, sent
    /// by us under `earlierIds`: once a member of that group, ask for the rest.
    #[wasm_bindgen(js_name = catchUpChat)]
    pub fn catch_up_chat(
        &mut self,
        #[wasm_bindgen(js_name = groupId)] group_id: &[u8],
        after: f64,
        #[wasm_bindgen(js_name = earlierIds)] earlier_ids: Vec<String>,
    ) {
        self.core
            .catch_up_chat(group_id, after as u64, &earlier_ids);
    }

    /// Private messages from other members that our key could not open (sealed to another).
    #[wasm_bindgen(js_name = privateMessagesNotForUs)]
    pub fn private_messages_not_for_us(&self) -> f64 {
        self.core.private_messages_not_for_us() as f64
    }

    /// Offers the group a file whose ciphertext is uploaded as the blob `blob`: its `name`,
    /// `size` in bytes and media type `mime` (or empty), and the `key` and `sha256` from its
    /// `FileEncryptor`. Throws `invalid_argument` for an offer clients do not take.
    #[wasm_bindgen(js_name = sendFileOffer)]
    pub fn send_file_offer(
        &mut self,
        blob: String,
        name: String,
        size: f64,
        mime: String,
        key: Vec<u8>,
        sha256: Vec<u8>,
    ) -> Result<(), JsValue> {
        let offer = FileOffer {
            blob,
            name,
            size: file_size(size)?,
            mime,
            key: Bytes(key),
            sha256: Bytes(sha256),
        };
        self.core.send_file_offer(offer).map_err(command_error)
    }

    /// Raises our hand, or lowers it.
    #[wasm_bindgen(js_name = raiseHand)]
    pub fn raise_hand(&mut self, raised: bool) -> Result<(), JsValue> {
        self.core.raise_hand(raised).map_err(command_error)
    }

    /// Lowers the hand of the member at `leaf`; throws `not_moderator` unless we moderate.
    #[wasm_bindgen(js_name = lowerHand)]
    pub fn lower_hand(&mut self, leaf: u32) -> Result<(), JsValue> {
        self.core.lower_hand(leaf).map_err(|e| match e {
            CommandError::NotModerator => js_error("not_moderator", e),
            e => command_error(e),
        })
    }

    /// Reacts with one of the reactions clients show (else `invalid_argument`).
    pub fn react(&mut self, emoji: &str) -> Result<(), JsValue> {
        self.core.react(emoji).map_err(command_error)
    }

    /// Opens a poll whose results go to `resultsFor` (`everyone` or `moderators`); returns its
    /// number.
    #[wasm_bindgen(js_name = openPoll)]
    pub fn open_poll(
        &mut self,
        question: &str,
        options: Vec<String>,
        multiple: bool,
        anonymous: bool,
        #[wasm_bindgen(js_name = resultsFor)] results_for: &str,
    ) -> Result<f64, JsValue> {
        let results_for = match results_for {
            "everyone" => ResultsFor::Everyone,
            "moderators" => ResultsFor::Moderators,
            other => {
                let e = format!("results are for 'everyone' or 'moderators', not {other:?}");
                return Err(js_error(INVALID_ARGUMENT, e));
            }
        };
        self.core
            .open_poll(question, options, multiple, anonymous, results_for)
            .map(|id| id as f64)
            .map_err(command_error)
    }

    /// Votes in the poll `id` of the member at leaf `creator`: `choices` by index.
    pub fn vote(&mut self, creator: u32, id: f64, choices: Vec<u8>) -> Result<(), JsValue> {
        let poll = PollRef {
            creator,
            id: id as u64,
        };
        self.core.vote(poll, choices).map_err(command_error)
    }

    /// Tells the group we record `id`, encrypted to the keys whose fingerprints are `owners`.
    #[wasm_bindgen(js_name = startRecording)]
    pub fn start_recording(&mut self, id: String, owners: Vec<String>) -> Result<(), JsValue> {
        self.core
            .start_recording(&id, owners)
            .map_err(command_error)
    }

    /// Tells the group our recording ended.
    #[wasm_bindgen(js_name = stopRecording)]
    pub fn stop_recording(&mut self) -> Result<(), JsValue> {
        self.core.stop_recording().map_err(command_error)
    }

    /// Our user, a moderator, opens breakout rooms: room `i` is called `labels[i]` and is the
    /// server's room `names[i]`; the member at leaf `leaves[j]` goes to room `rooms[j]`; the
    /// others choose if `choose`; everyone is to come back at `endsAt` (ms since the Unix
    /// epoch), if set.
    #[wasm_bindgen(js_name = openBreakouts)]
    pub fn open_breakouts(
        &mut self,
        labels: Vec<String>,
        names: Vec<String>,
        leaves: Vec<u32>,
        rooms: Vec<u8>,
        choose: bool,
        #[wasm_bindgen(js_name = endsAt)] ends_at: Option<f64>,
    ) -> Result<(), JsValue> {
        if labels.len() != names.len() || leaves.len() != rooms.len() {
            return Err(js_error(INVALID_ARGUMENT, "lists of different lengths"));
        }
        let assignments = leaves
            .into_iter()
            .zip(rooms)
            .map(|(leaf, room)| Assignment { leaf, room })
            .collect();
        let rooms = labels.into_iter().zip(names).collect();
        self.core
            .open_breakouts(rooms, assignments, choose, ends_at.map(|ms| ms as u64))
            .map_err(command_error)
    }

    /// Our user, a moderator, says `text` to every breakout room.
    #[wasm_bindgen(js_name = broadcastToBreakouts)]
    pub fn broadcast_to_breakouts(&mut self, text: &str) -> Result<(), JsValue> {
        self.core
            .broadcast_to_breakouts(text)
            .map_err(command_error)
    }

    /// Our user, a moderator, closes the breakout rooms: everyone comes back.
    #[wasm_bindgen(js_name = closeBreakouts)]
    pub fn close_breakouts(&mut self) -> Result<(), JsValue> {
        self.core.close_breakouts().map_err(command_error)
    }

    /// Our user, in breakout room `room`, asks the moderators for help.
    #[wasm_bindgen(js_name = askForHelp)]
    pub fn ask_for_help(&mut self, room: u8) -> Result<(), JsValue> {
        self.core.ask_for_help(room).map_err(command_error)
    }

    /// Our side of breakout room `room` of the open plan (see
    /// `Participant::breakout_participant`): a participant to join it with.
    #[wasm_bindgen(js_name = breakoutParticipant)]
    pub fn breakout_participant(&self, room: u8) -> Result<Participant, JsValue> {
        let core = self
            .core
            .breakout_participant(room)
            .map_err(command_error)?;
        Ok(Self { core })
    }

    /// Closes our poll `id`: its final results go out.
    #[wasm_bindgen(js_name = closePoll)]
    pub fn close_poll(&mut self, id: f64) -> Result<(), JsValue> {
        self.core.close_poll(id as u64).map_err(command_error)
    }

    /// Votes from other members for polls not ours (sealed to their creators).
    #[wasm_bindgen(js_name = votesNotForUs)]
    pub fn votes_not_for_us(&self) -> f64 {
        self.core.votes_not_for_us() as f64
    }

    /// The next thing to do, or `undefined`.
    #[wasm_bindgen(js_name = pollOutput, unchecked_return_type = "ParticipantOutput | undefined")]
    pub fn poll_output(&mut self) -> JsValue {
        self.core.poll_output().map_or(JsValue::UNDEFINED, output)
    }
}

fn output(output: Output) -> JsValue {
    let kind = |kind: &str| JsObject::new().with("kind", kind);
    match output {
        Output::Send(message) => kind("send")
            .with("message", client_message(&message))
            .build(),
        Output::Epoch(epoch) => epoch_output(*epoch),
        Output::Removed => kind("removed").build(),
        Output::Notice(Notice::Joined(member)) => kind("notice")
            .with("change", "joined")
            .with("member", roster_member(&member))
            .build(),
        Output::Notice(Notice::Left(member)) => kind("notice")
            .with("change", "left")
            .with("member", roster_member(&member))
            .build(),
        Output::RoomLink(secret) => kind("roomLink").with("secret", secret).build(),
        Output::PinOrganisationKey(key) => kind("pinOrganisationKey")
            .with("key", bytes(&key.to_bytes()))
            .with("fingerprint", key.fingerprint().to_string())
            .build(),
        Output::OrganisationKeyChanged { pinned, presented } => kind("organisationKeyChanged")
            .with("pinned", pinned.fingerprint().to_string())
            .with("presented", presented.fingerprint().to_string())
            .build(),
        Output::Warning(text) => kind("warning").with("text", text).build(),
        Output::Error(text) => kind("error").with("text", text).build(),
        Output::Application(received) => kind("application")
            .with("sender", received.sender)
            .with(
                "applicationKind",
                received
                    .kind
                    .map_or(JsValue::NULL, |k| application_kind_name(k).into()),
            )
            .with("data", bytes(&received.data))
            .build(),
        Output::Chat(entry) => kind("chat").with("entry", chat_entry(entry)).build(),
        Output::ChatUnreadable(count) => kind("chatUnreadable").with("count", count as f64).build(),
        Output::Hands(hands) => kind("hands")
            .with("hands", array(hands.into_iter().map(raised_hand)))
            .build(),
        Output::Reaction(reaction) => kind("reaction")
            .with("reaction", reaction_object(reaction))
            .build(),
        Output::Poll(view) => kind("poll").with("poll", poll_view(*view)).build(),
        Output::File(entry) => kind("file").with("file", file_entry(entry)).build(),
        Output::Breakouts(view) => kind("breakouts")
            .with(
                "breakouts",
                view.map_or(JsValue::NULL, |v| breakout_view(*v)),
            )
            .build(),
        Output::Breakout(BreakoutNotice::Broadcast { from, text }) => kind("breakoutBroadcast")
            .with("from", from)
            .with("text", text)
            .build(),
        Output::Breakout(BreakoutNotice::HelpWanted { from, room }) => kind("helpWanted")
            .with("from", from)
            .with("room", room)
            .build(),
        Output::Recordings(recordings) => {
            let recordings = recordings.into_iter().map(active_recording);
            kind("recordings")
                .with("recordings", array(recordings))
                .build()
        }
    }
}

/// A command the user's input made impossible is `invalid_argument`; anything else `not_sent`.
fn command_error(error: CommandError) -> JsValue {
    match error {
        CommandError::ChatLength
        | CommandError::Reaction
        | CommandError::Poll(_)
        | CommandError::FileOffer(_)
        | CommandError::Recording(_)
        | CommandError::Breakout(_) => js_error(INVALID_ARGUMENT, error),
        e => js_error("not_sent", e),
    }
}

fn raised_hand(hand: RaisedHand) -> JsValue {
    JsObject::new()
        .with("leaf", hand.leaf)
        .with("name", hand.name)
        .build()
}

fn reaction_object(reaction: Reaction) -> JsValue {
    JsObject::new()
        .with("sender", reaction.sender)
        .with("senderName", reaction.sender_name)
        .with("emoji", reaction.emoji)
        .build()
}

/// Poll numbers as JS numbers: a creator's count stays far below 2^53.
fn poll_view(view: PollView) -> JsValue {
    let results_for = match view.results_for {
        ResultsFor::Everyone => "everyone",
        ResultsFor::Moderators => "moderators",
    };
    JsObject::new()
        .with("creator", view.poll.creator)
        .with("id", view.poll.id as f64)
        .with("creatorName", view.creator_name)
        .with("question", view.question)
        .with("options", plain_array(view.options))
        .with("multiple", view.multiple)
        .with("anonymous", view.anonymous)
        .with("resultsFor", results_for)
        .with("mine", view.mine)
        .with("ownChoices", plain_array(view.own_choices))
        .with("results", view.results.map_or(JsValue::NULL, results_view))
        .with("closed", view.closed)
        .build()
}

fn results_view(results: ResultsView) -> JsValue {
    let named = results
        .named
        .into_iter()
        .map(|names| plain_array(names).into());
    JsObject::new()
        .with(
            "counts",
            array(results.counts.into_iter().map(JsValue::from)),
        )
        .with("voters", results.voters)
        .with("named", array(named))
        .build()
}

/// Numbers as JS numbers: sequence numbers and times stay far below 2^53.
fn chat_entry(entry: ChatEntry) -> JsValue {
    JsObject::new()
        .with("seq", entry.seq as f64)
        .with("sender", entry.sender)
        .with("senderName", entry.sender_name)
        .with("private", entry.private)
        .with("text", entry.text)
        .with("sentAt", entry.sent_at as f64)
        .build()
}

fn breakout_view(view: BreakoutView) -> JsValue {
    let rooms = view.rooms.into_iter().map(|room| {
        JsObject::new()
            .with("label", room.label)
            .with("room", room.room)
            .with("link", room.link)
            .build()
    });
    let assigned = view
        .assigned
        .into_iter()
        .map(|(name, room)| array([JsValue::from(name), JsValue::from(room)]).into());
    JsObject::new()
        .with("id", view.id as f64)
        .with("openedBy", view.opened_by)
        .with("rooms", array(rooms))
        .with(
            "ownRoom",
            view.own_room.map_or(JsValue::NULL, JsValue::from),
        )
        .with("choose", view.choose)
        .with(
            "endsAt",
            view.ends_at
                .map_or(JsValue::NULL, |t| JsValue::from(t as f64)),
        )
        .with("assigned", array(assigned))
        .build()
}

fn active_recording(recording: ActiveRecording) -> JsValue {
    JsObject::new()
        .with("leaf", recording.leaf)
        .with("recorderName", recording.recorder_name)
        .with("id", recording.id)
        .with("owners", plain_array(recording.owners))
        .with("mine", recording.mine)
        .build()
}

/// Sizes as JS numbers: a file's is at most 2^48 bytes, exact below 2^53.
fn file_entry(entry: FileEntry) -> JsValue {
    let offer = entry.offer;
    JsObject::new()
        .with("seq", entry.seq as f64)
        .with("sender", entry.sender)
        .with("senderName", entry.sender_name)
        .with("blob", offer.blob)
        .with("name", offer.name)
        .with("size", offer.size as f64)
        .with("mime", offer.mime)
        .with("key", bytes(offer.key.as_ref()))
        .with("sha256", bytes(offer.sha256.as_ref()))
        .build()
}

/// A client message as the plain object `JSON.parse` makes of its protocol JSON.
fn client_message(message: &ClientMessage) -> JsValue {
    // Protocol messages always serialize (`sealroom_protocol::encode` relies on it too), and
    // serde_json's output always parses.
    let json = serde_json::to_string(message).unwrap_or_else(|e| unreachable!("{e}"));
    js_sys::JSON::parse(&json).unwrap_or_else(|_| unreachable!("serde_json writes JSON"))
}

fn epoch_output(epoch: Epoch) -> JsValue {
    let code = JsObject::new()
        .with("digits", epoch.security_code.digits())
        .with(
            "words",
            array(
                epoch
                    .security_code
                    .words()
                    .iter()
                    .map(|w| JsValue::from_str(w)),
            ),
        )
        .build();
    JsObject::new()
        .with("kind", "epoch")
        .with("epoch", epoch.epoch)
        .with("groupId", bytes(&epoch.group_id))
        .with("ownLeaf", epoch.own_leaf)
        .with("roster", array(epoch.roster.iter().map(roster_member)))
        .with("code", code)
        // Copied straight into a JS array: the wasm-side copy is zeroized when `epoch` drops.
        .with("baseKey", bytes(&epoch.media_secret))
        .with(
            "change",
            epoch.change.as_ref().map_or(JsValue::NULL, epoch_change),
        )
        .with("policy", room_policy(&epoch.policy))
        .build()
}

/// The room policy as the page shows it: the lobby, and the moderators by key fingerprint.
fn room_policy(policy: &RoomPolicy) -> JsValue {
    let moderators = policy
        .moderators
        .iter()
        .map(|f| JsValue::from_str(&f.to_string()));
    JsObject::new()
        .with("lobby", policy.lobby)
        .with("moderators", array(moderators))
        .build()
}

/// The kind's name as the page calls it: its label without the `sealroom/` prefix.
fn application_kind_name(kind: ApplicationKind) -> String {
    String::from_utf8_lossy(kind.label())
        .trim_start_matches("sealroom/")
        .to_owned()
}

/// A JS array of plain values: numbers or strings.
fn plain_array<T: Into<JsValue>>(values: Vec<T>) -> js_sys::Array {
    array(values.into_iter().map(Into::into))
}
